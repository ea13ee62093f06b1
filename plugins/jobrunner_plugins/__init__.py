"""The built-in handler plugins: `shell`, `http` and `python`.

They use only the public contract in `jobrunner.plugin` and register through
the `jobrunner.plugins` entry-point group, exactly as third-party plugins do.
"""
