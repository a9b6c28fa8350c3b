#!/usr/bin/python3
"""Validates JSON instances against a JSON Schema: validate_json.py SCHEMA INSTANCE...

Prints each failure (file, path, message) and exits 1 when any instance is invalid."""
import json
import sys

import jsonschema

schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
bad = 0
for path in sys.argv[2:]:
    for error in validator.iter_errors(json.load(open(path))):
        bad += 1
        print(f"{path}: {'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}")
sys.exit(1 if bad else 0)
