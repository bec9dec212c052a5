#!/usr/bin/env bash
# A short check of the `full` budgets on one CUDA GPU (under 10 minutes on a modern one): training rates at the full
# settings, then the classifier, DDPM and DANN at their full budgets with the epochs cut short, and, with two GPUs or
# more, the classifier data-parallel under `accelerate launch`. Everything lands in OUT (default runs/gpu-check):
# rates.json, {classifier,ddpm,dann}/metrics.json, summary.json and the logs.
#
#   tools/gpu_check.sh [OUT]
#   DATA=~/hw2_data/digits/mnistm SOURCE=~/hw2_data/digits/usps TARGET=~/hw2_data/digits/mnistm tools/gpu_check.sh
#
# DATA: the digits of the classifier and the DDPM [mnistm]; SOURCE, TARGET: DANN's scenario [mnist, mnistm];
# EPOCHS: the epochs of each run [2]. The DDPM is graded by the classifier this check trains (2 epochs), not the
# course's 30-epoch one, so its accuracy is a lower bound.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${1:-runs/gpu-check}; DATA=${DATA:-mnistm}; SOURCE=${SOURCE:-mnist}; TARGET=${TARGET:-mnistm}; EPOCHS=${EPOCHS:-2}

if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "gpu_check: no CUDA GPU here (torch.cuda.is_available() is False): run it on a machine with one" >&2
    exit 1
fi
NGPU=$("$PY" -c 'import torch; print(torch.cuda.device_count())')
mkdir -p "$OUT"
export DLCV_CACHE="$OUT/cache" MPLBACKEND=Agg   # the course classifier the DDPM is graded by: the one trained below
log() { echo "[gpu_check $(date +%H:%M:%S)] $*"; }

log "$NGPU GPU(s): $("$PY" -c 'import torch; print(torch.cuda.get_device_name(0))'); training rates at the full budgets"
"$PY" - "$OUT/rates.json" <<'PYEOF'
import json, sys
from dlcv_course.bench import train_rate
rates = {p: round(train_rate(p, 'full', n=40, warmup=5), 1) for p in ('classifier', 'ddpm', 'dann')}
json.dump(dict(images_per_second=rates, budget='full'), open(sys.argv[1], 'w'), indent=2)
print(rates)
PYEOF

CLF=$("$PY" -c "from dlcv_course.metrics import classifier_path; print(classifier_path('$DATA', 'full').parent)")
log "classifier on $DATA, full budget, $EPOCHS epochs (into the cache, so the DDPM is graded by it)"
"$PY" -m dlcv_course.cli run classifier --data "$DATA" --budget full --epochs "$EPOCHS" --out "$CLF" > "$OUT/classifier.log" 2>&1
mkdir -p "$OUT/classifier"; cp "$CLF/metrics.json" "$OUT/classifier/metrics.json"

log "ddpm on $DATA, full budget, $EPOCHS epochs"
"$PY" -m dlcv_course.cli run ddpm --data "$DATA" --budget full --epochs "$EPOCHS" --out "$OUT/ddpm" --overwrite > "$OUT/ddpm.log" 2>&1

log "dann $SOURCE -> $TARGET, full budget, $EPOCHS epochs per stage"
"$PY" -m dlcv_course.cli run dann --source "$SOURCE" --target "$TARGET" --budget full --epochs "$EPOCHS" --out "$OUT/dann" --overwrite > "$OUT/dann.log" 2>&1

if [ "$NGPU" -ge 2 ]; then
    log "classifier data-parallel on $NGPU GPUs (accelerate launch)"
    "$PY" -m accelerate.commands.launch --multi_gpu --num_processes "$NGPU" --num_machines 1 --mixed_precision no \
        --dynamo_backend no -m dlcv_course.cli run classifier --data "$DATA" --budget full --epochs "$EPOCHS" \
        --out "$OUT/classifier-dp$NGPU" --overwrite > "$OUT/classifier-dp.log" 2>&1
fi

"$PY" - "$OUT" <<'PYEOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1]); s = json.loads((out/'rates.json').read_text())
keys = dict(classifier=('test_accuracy', 'seconds', 'epochs', 'n_train', 'processes'),
            ddpm=('accuracy', 'accuracy_ddpm', 'train_seconds', 'sample_seconds_1000', 'precision', 'epochs', 'processes'),
            dann=('source_only', 'dann', 'target_only', 'seconds', 'processes'))
for run in sorted(p.parent for p in out.glob('*/metrics.json')):
    m = json.loads((run/'metrics.json').read_text())
    s[run.name] = {k: m.get(k) for k in keys.get(m['problem'], ()) + ('device', 'budget')}
(out/'summary.json').write_text(json.dumps(s, indent=2))
print(json.dumps(s, indent=2))
PYEOF
log "done: $OUT/summary.json"
