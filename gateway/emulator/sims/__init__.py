"""One module per emulated provider, named as the provider is registered.

Each module exposes ``SIMULATOR``, its :class:`~gateway.emulator.base.Sim` subclass
(whose ``name`` is the module's name). :mod:`gateway.emulator.registry` finds them here,
so adding a provider to the emulator is adding a module: there is no list to edit.
"""
