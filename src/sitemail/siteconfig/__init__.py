"""The JSONC site configuration: storage, validation, redaction and typed accessors."""
