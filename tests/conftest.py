"""Settings for the whole test suite."""

import torch

# The tensors in the tests are small: one thread avoids thread start-up and oversubscription
# costs that dominate on a shared 2-core machine (seen: a 4 s test taking 77 s under load).
torch.set_num_threads(1)
