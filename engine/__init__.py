"""The training engine: data, models, trainer, runs on disk. Never imports Textual."""

import os

# OpenMP threads waiting at the end of each parallel op sleep instead of spinning. On a busy CPU (other
# programs, the dashboard's own thread) spinning threads starve the thread they wait for and training
# runs 5-10x slower; on an idle CPU sleeping costs a few percent. libgomp reads this when torch loads,
# so it must be set before the first `import torch`, which every engine module does after this file.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
