"""Every bound on the work one request may cause and on what one record may hold.

A key holder must not be able to stall, bloat or break the server for the others: rejecting a
request costs milliseconds, and every record that is stored can be served, in a page of the
largest ones that stays small and fast. The vendor publishes few bounds for these fields; where
it has one, the models use it, and these are the documented ones for the rest (README.md,
"Limits").
"""

# --- free-form JSON -------------------------------------------------------------------------

# Free-form values (metadata, schemas, provider configurations, filter values, any field typed
# ``Any``) nest at most this deep: deep enough for any real document, shallow enough that
# encoding one can never exhaust a stack.
MAX_JSON_DEPTH = 32
# ... and take at most this many bytes as compact JSON, each.
MAX_VALUE_BYTES = 16 * 1024
# A request object (a body, or an object inside one) with more keys than this is refused before
# its keys are checked one by one: no request model has a tenth as many fields.
MAX_OBJECT_KEYS = 256

# A request body is parsed only if it holds at most this many JSON separators (``,`` and
# ``:``, counted in C before parsing, strings included): parsing half a million list items
# takes tens of milliseconds on the event loop, and no body the other limits accept comes near
# this (a record is at most 32 KiB, so it holds fewer than 33,000 of them).
MAX_BODY_SEPARATORS = 65_536

# --- records ----------------------------------------------------------------------------------

# One record, as the API emits it, takes at most this many bytes of JSON; so a page of the
# largest page size holds at most MAX_PAGE_SIZE of them (32 MiB) however they were filled.
MAX_RECORD_BYTES = 32 * 1024

# --- lists and strings in requests ------------------------------------------------------------

# File patterns and MIME types of a sync's file_filters, and the older ``extensions`` form.
MAX_PATTERNS = 100
# A pattern or a source path: S3 keys are at most 1024 bytes; the bucket name comes on top.
MAX_PATH_LENGTH = 2048
MAX_METADATA_FILTERS = 50
# The regular expressions of ``file_filters.patterns`` (app/syncs/regexes.py): each is applied to
# every listed file, and a backtracking match costs up to a few milliseconds on a hostile key,
# so there are fewer of them than of globs, each shorter, with a bounded worst case.
MAX_REGEX_PATTERNS = 10
MAX_REGEX_LENGTH = 256
# The bounded repeats of one such pattern (``?`` counts 2, ``{1,4}`` counts 4) multiply to at
# most this.
MAX_BOUNDED_SPAN = 4
# Identifiers and names a request refers to (collection ids, field names, extractor names).
MAX_NAME_LENGTH = 255
MAX_REFERENCES = 100
# Namespace settings: features, feature extractors, vector configurations, payload indexes.
MAX_FEATURES = 50
MAX_FEATURE_EXTRACTORS = 50
MAX_VECTOR_CONFIGS = 50
MAX_PAYLOAD_INDEXES = 100
# The fields of a bucket's unique key.
MAX_UNIQUE_KEY_FIELDS = 20
# The error types a dead-letter request filters on (the SDK's ``error_types``).
MAX_ERROR_TYPES = 50

# --- validation errors --------------------------------------------------------------------------

# A 422 lists at most this many problems, and counts the rest in ``details.omitted_errors``.
MAX_REPORTED_ERRORS = 20
# Each problem's message, and the field list in the 422's own message, are cut to this length.
MAX_ERROR_MESSAGE_LENGTH = 300
# Each part of a problem's location (a key the client sent may be long) is cut to this length.
MAX_LOCATION_PART_LENGTH = 100
