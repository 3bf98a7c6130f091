"""Kernel-enforced confinement of the selector worker, as far as Linux allows without root.

The selection stage runs untrusted plugin code. Besides its own process, time and memory
limits (:mod:`selbench.selection.isolation`) and the audit-hook tripwire of the worker, the
worker is started through :mod:`selbench.sandbox.launch`, which, before anything else is
imported:

- moves it into a new user + network namespace with only a loopback interface
  (:mod:`selbench.sandbox.netns`), unless the selection is allowed the network (a remote API
  judge in the spec, or ``--selector-network``): a plugin cannot reach the internet, nor any
  server the driver runs on the host's loopback (a vLLM judge it starts itself still works);
- hides the evaluation data folders from it and from every process it starts with Landlock
  (:mod:`selbench.sandbox.landlock`): the kernel refuses to open, list, write or execute
  anything under them, whatever the code uses (``cat`` in a subprocess, ctypes, C extensions).

Both need kernel features that a distribution may switch off (unprivileged user namespaces,
the Landlock LSM, kernel >= 5.13); when one is missing the worker runs without it and the
selection's ``isolation`` record says so. In the container the boundary is the container
itself (``--network none``, evaluation data not mounted).
"""

from selbench.sandbox.policy import SandboxPolicy

__all__ = ["SandboxPolicy"]
