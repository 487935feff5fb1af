"""Local development stack: the real Google emulators, and the one-command demo."""
