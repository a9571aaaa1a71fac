"""Training: the one loop (``loop``), what feeds it (``cifar10``, ``imagenet``), the device and
precision a run trains in, evaluation, and the speed benchmark."""
