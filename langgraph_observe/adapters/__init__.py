"""Adapters from frameworks to the core: ``langchain`` (the CallbackHandler)."""
