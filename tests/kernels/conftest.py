import os
import sys

# The shared tester imports its helpers as top-level modules, also when run
# alone under qemu or against the wasm build.
sys.path.insert(0, os.path.dirname(__file__))
