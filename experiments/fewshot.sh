#!/usr/bin/env bash
# Few-shot vs one-shot supernet at equal training steps, on a standalone table (issue 22, part 4
# on table v1; issue 21, section 4 on table v2). The protocols, fixed before any result:
# experiments/results/fewshot_v1/PROTOCOL.md and experiments/results/ground_truth/fewshot_v2/PROTOCOL.md.
# Resumable: rerun the same command after an interruption; every stage skips what is finished
# and resumes what is not.
#   RUNS=/work/runs/fewshot INIT2D=/work/runs/gt/2d/model.pt bash experiments/fewshot.sh          # v1
#   TABLE=v2 RUNS=/work/runs/gt/fewshot_v2 bash experiments/fewshot.sh                             # v2
set -euo pipefail
TABLE=${TABLE:-v1}
PY=${PY:-python}
CFG=experiments/configs/pretrain_mlp3d_nano_t8_cpu.yaml
SPLIT_AT=1996                                             # one-shot steps before the split
case "$TABLE" in
  v1) RUNS=${RUNS:-runs/fewshot}
      INIT2D=${INIT2D:-runs/cyclemlp_nano_2d/model.pt}    # the 2D CycleMLP-nano (v1 recipe)
      OUT=experiments/results/fewshot_v1
      ARCHS=experiments/results/ranking_fidelity/archs.txt
      DATA=() ;;
  v2) RUNS=${RUNS:-runs/fewshot_v2}
      INIT2D=${INIT2D:-experiments/results/ground_truth/init/cyclemlp_nano_2d.pt}   # table v2's init
      OUT=experiments/results/ground_truth/fewshot_v2
      ARCHS=experiments/results/ground_truth/table_v2/archs.txt
      DATA=(--set data.temporal_version=3) ;;             # v2's protocol (v3-e24's data)
  *) echo "fewshot.sh: TABLE=$TABLE is not a table; allowed: v1, v2" >&2; exit 2 ;;
esac
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
mkdir -p "$RUNS" "$OUT"
NAS=("$PY" -m nas.cli)
timed() {   # timed NAME CMD...: CPU seconds (user + sys of the command and its children) per stage
  /usr/bin/time -f "$1 %e wall_s %U user_s %S sys_s" -a -o "$RUNS/times.txt" "${@:2}"
}
ONE=(--config "$CFG" --set "output_dir=$RUNS/oneshot" --set "options.center_init_from=$INIT2D"
     "${DATA[@]}" --set train.threads=1 --no-progress)
step_of() { "$PY" -c "import sys; from supernet.training.checkpoint import load_checkpoint as l; print(l(sys.argv[1])['step'])" "$1"; }

# 1. the one-shot supernet (the table's uniform recipe) to step 1996, snapshot
if [ ! -f "$RUNS/oneshot_step$SPLIT_AT.pt" ]; then
  R=(); [ -f "$RUNS/oneshot/checkpoints/last.pt" ] && R=(--resume)
  timed oneshot_to_$SPLIT_AT "${NAS[@]}" pretrain "${ONE[@]}" --set train.max_steps=$SPLIT_AT "${R[@]}"
  [ "$(step_of "$RUNS/oneshot/supernet.pt")" = "$SPLIT_AT" ]
  cp "$RUNS/oneshot/supernet.pt" "$RUNS/oneshot_step$SPLIT_AT.tmp" && mv "$RUNS/oneshot_step$SPLIT_AT.tmp" "$RUNS/oneshot_step$SPLIT_AT.pt"
fi
# 2. few-shot: 4 sub-supernets (first unit's GTM type), 125 steps each, from the step-1996 snapshot
R=(); [ -f "$RUNS/fewshot/fewshot.json" ] && R=(--resume)
timed fewshot "${NAS[@]}" pretrain --config "$CFG" --set "output_dir=$RUNS/fewshot" --set 'options={}' \
  "${DATA[@]}" --set few_shot.split_units=1 --set few_shot.split_field=gtm_type --set few_shot.steps=125 \
  --set "few_shot.init_from=$RUNS/oneshot_step$SPLIT_AT.pt" --set optim.warmup_epochs=0 \
  --set train.threads=1 --no-progress "${R[@]}"
# 3. the one-shot supernet to its end (2496 steps: the same step count as few-shot's total)
if [ "$(step_of "$RUNS/oneshot/supernet.pt")" != 2496 ]; then
  timed oneshot_to_end "${NAS[@]}" pretrain "${ONE[@]}" --resume
fi
# 4. shared-weight estimates of the table's architectures on the 2000 val clips (the tables' protocol)
for est in fewshot:"$RUNS/fewshot" oneshot:"$RUNS/oneshot/supernet.pt" oneshot_step$SPLIT_AT:"$RUNS/oneshot_step$SPLIT_AT.pt"; do
  name=${est%%:*}; ckpt=${est#*:}
  timed "estimates_$name" "${NAS[@]}" correlate --checkpoint "$ckpt" --archs "$ARCHS" --val-size 2000 \
    --out "$RUNS/corr-$name" --estimates-only --no-progress
  cp "$RUNS/corr-$name/correlation.csv" "$OUT/estimates_$name.csv"
done
cp "$RUNS/fewshot/fewshot.json" "$RUNS/times.txt" "$OUT/"
cp "$RUNS/oneshot/metrics.csv" "$OUT/oneshot_metrics.csv"
echo "done: $OUT"
