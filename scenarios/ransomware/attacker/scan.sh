#!/bin/bash
# quick sweep of the local /24 (no nmap on the box): IP (name) : port
ports="22 80 139 443 445 514 873 3389"
for net in $(ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | sed 's/\.[0-9]*$//' | sort -u); do
  for i in $(seq 1 254); do
    (
      for p in $ports; do
        if timeout 1 bash -c "echo > /dev/tcp/$net.$i/$p" 2>/dev/null; then
          echo "$net.$i ($(getent hosts $net.$i | awk '{print $2}')) : $p open"
        fi
      done
    ) &
  done
  wait
done | sort -t. -k4,4n
