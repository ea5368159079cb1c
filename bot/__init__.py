"""Bot runtime helpers shared by both venvs: language detection, the stack launcher, gateways."""
