"""Makes a lab and holds it until killed: the harness process of the cleanup tests.

Prints the lab id, then the word "ready", then sleeps inside the lab's
context manager, as a pytest session sits inside its lab fixture. With
--apply it applies the setup first (a real cluster runs containers).

    python tests/lab_holder.py TOPOLOGY [--apply]
"""
import sys
import time

from harness import setups
from harness.model import topology
from harness.lab import sigterm_as_interrupt
from provisioners.netns import NetnsProvisioner

with sigterm_as_interrupt():
    lab = NetnsProvisioner().create(topology.load(sys.argv[1]))
    print(lab.id, flush=True)
    with lab:
        next(iter(lab.hosts.values())).service("sleeper").define("sleep 1000")
        if "--apply" in sys.argv[2:]:
            setups.apply(lab)
        print("ready", flush=True)
        while True:
            time.sleep(0.2)
