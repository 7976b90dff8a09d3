"""Evidence from an archive: ``chatgpt-compliance verify`` (and the sources it reads)."""
