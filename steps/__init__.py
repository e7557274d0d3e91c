"""The reference architecture as steps (see ``steps.architecture.build_steps``)."""
