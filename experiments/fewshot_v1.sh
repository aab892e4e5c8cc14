#!/usr/bin/env bash
# Kept for experiments/results/fewshot_v1/command.txt: experiments/fewshot.sh on table v1.
TABLE=v1 exec bash "$(dirname "$0")/fewshot.sh" "$@"
