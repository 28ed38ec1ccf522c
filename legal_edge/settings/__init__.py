"""Settings: the server's ``Settings`` (``server``), the strict YAML + overrides + env loader that
the recipes use too (``loader``), and the generated settings reference page (``reference``)."""
