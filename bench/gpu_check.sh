#!/usr/bin/env bash
# bench/gpu_check.sh [OUTDIR]: every GPU check of mnist-tui in one command, offline, in about 6 minutes.
#
# Runs the `cuda` tests (pytest -m cuda) and the bench's GPU section (python -m bench --only gpu), then checks
# the GPU targets; writes gpu_check.json, summary.txt and the logs to OUTDIR (default bench/results/gpu-check),
# prints the summary, and exits 1 if any check failed (2 for missing inputs). Without a CUDA GPU it checks its
# inputs, says so, and exits 0, so CI can run it.
#
# Needs on the GPU machine: Python >= 3.10 with a CUDA build of PyTorch >= 2.4 and torchvision, numpy,
# scikit-learn, matplotlib, pillow, psutil, pytest and pytest-timeout (a usual CUDA image has them); no network.
# Beside this script:
#   bench/wheels/    the project's other pure-Python dependencies (textual and what it needs) as wheels;
#   bench/mnist-gz/  MNIST's four IDX files gzipped: train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
#                    t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz (unpacked into a temporary folder).
# Prepare both on a machine with PyPI and MNIST (both folders are git-ignored):
#   bench/gpu_check.sh --prepare DATA_DIR     # DATA_DIR holds MNIST/raw/, e.g. ../shared/datasets
# Choose a part with GPU_CHECK_PARTS=tests or =bench; pass options on in GPU_CHECK_PYTEST_ARGS and
# GPU_CHECK_BENCH_ARGS (e.g. '--gpu-parts=accuracy,app --best-seeds=0').
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
python=${PYTHON:-python3}
wheels=$here/wheels
mnist_gz=$here/mnist-gz
mnist_files="train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte"
# Pure-Python packages a CUDA image lacks (textual and its own needs), pinned to versions tested together.
wheel_packages="textual==8.2.8 textual-plotext==1.0.1 plotext==5.3.2 rich==15.0.0 markdown-it-py==4.3.0 mdurl==0.1.2
 mdit-py-plugins==0.7.0 linkify-it-py==2.2.0 uc-micro-py==2.0.0 platformdirs==4.14.8 pygments==2.21.0
 typing-extensions==4.16.0"

if [ "${1:-}" = "--prepare" ]; then
    data=${2:?usage: bench/gpu_check.sh --prepare DATA_DIR (the folder holding MNIST/raw/)}
    mkdir -p "$wheels" "$mnist_gz" || exit 2
    # shellcheck disable=SC2086
    "$python" -m pip download -q --no-deps --only-binary=:all: -d "$wheels" $wheel_packages || exit 2
    for name in $mnist_files; do
        gzip -c "$data/MNIST/raw/$name" > "$mnist_gz/$name.gz" || exit 2
    done
    echo "prepared $wheels ($(ls "$wheels" | wc -l) wheels) and $mnist_gz; now run bench/gpu_check.sh on the GPU machine"
    exit 0
fi

out=${1:-$root/bench/results/gpu-check}
problems=()
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null \
    || problems+=("$python is missing or older than Python 3.10 (set PYTHON=...)")
torch_version=$("$python" -c 'import torch; print(torch.__version__)' 2>/dev/null) \
    || problems+=("PyTorch is not importable by $python")
for name in $mnist_files; do
    [ -f "$mnist_gz/$name.gz" ] && gzip -t "$mnist_gz/$name.gz" 2>/dev/null \
        || problems+=("$mnist_gz/$name.gz is missing or not gzip (bench/gpu_check.sh --prepare DATA_DIR)")
done
for package in $wheel_packages; do
    file_prefix=$(echo "${package%%==*}" | tr - _)
    compgen -G "$wheels/${file_prefix}-${package##*==}-*.whl" >/dev/null \
        || problems+=("no wheel for $package in $wheels (bench/gpu_check.sh --prepare DATA_DIR)")
done

gpu=$("$python" -c 'import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")' 2>/dev/null)
if [ -z "$gpu" ]; then
    echo "gpu_check: no CUDA GPU here (torch ${torch_version:-missing} sees none): nothing to run."
    if [ ${#problems[@]} -gt 0 ]; then
        printf 'gpu_check: on a GPU machine these inputs would be missing:\n'
        printf '  - %s\n' "${problems[@]}"
    else
        echo "gpu_check: inputs are complete: $wheels, $mnist_gz"
    fi
    exit 0
fi
if [ ${#problems[@]} -gt 0 ]; then
    printf 'gpu_check: cannot run on %s:\n' "$gpu"
    printf '  - %s\n' "${problems[@]}"
    exit 2
fi

echo "gpu_check: $gpu, torch $torch_version; results in $out"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$out" "$scratch/data/MNIST/raw" || exit 2
"$python" -m pip install -q --no-index --no-deps --no-compile --disable-pip-version-check --target "$scratch/site" \
    "$wheels"/*.whl || exit 2
for name in $mnist_files; do
    gunzip -c "$mnist_gz/$name.gz" > "$scratch/data/MNIST/raw/$name" || exit 2
done
export PYTHONPATH="$root:$scratch/site${PYTHONPATH:+:$PYTHONPATH}"
cd "$root" || exit 2
"$python" -m bench.gpu_check --data-dir "$scratch/data" --out "$out" --parts "${GPU_CHECK_PARTS:-tests,bench}" \
    --pytest-args="${GPU_CHECK_PYTEST_ARGS:-}" --bench-args="${GPU_CHECK_BENCH_ARGS:-}"
