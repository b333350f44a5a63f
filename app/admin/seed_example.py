"""The example fixture ``mixpeek-mock seed --example`` prints: every kind of record, commented.

It loads cleanly into a fresh database (a test proves it), so it is a starting point to copy.
"""

EXAMPLE_FIXTURE = """\
# A mixpeek-mock seed fixture (CONTRACT.md D29). Load it with
#   mixpeek-mock seed fixture.yaml            (into the database, even while a server runs)
#   mixpeek-mock serve --seed fixture.yaml    (at start, before serving)
#   POST /_mock/seed                          (the same document as JSON, admin token)
# It adds to what exists, all or nothing; every problem is reported with its place.
# Records are the API's own create requests, plus optional ids (made when left out).
organizations:
  - name: acme                      # added to if it exists, else created
    internal_id: int_acme           # optional, as every id below
    api_keys:                       # keys that authenticate as acme (8..256 characters)
      - sk_acme_test_key_0123456789
    connections:                    # POST /v1/organizations/connections bodies
      - connection_id: conn_minio
        name: minio
        provider_type: s3
        provider_config:
          credentials:
            type: access_key
            access_key_id: minioadmin
            secret_access_key: minioadmin
          endpoint_url: http://127.0.0.1:9000
    namespaces:                     # POST /v1/namespaces bodies, each with its buckets
      - namespace_id: ns_acme_media
        namespace_name: media       # a new organization also gets 'default' unless listed
        description: Videos and images
        buckets:                    # POST /v1/buckets bodies, each with its syncs
          - bucket_id: bkt_videos
            bucket_name: videos
            bucket_schema:
              properties:
                video: {type: video}
            syncs:                  # POST /v1/buckets/{bucket}/syncs bodies
              - sync_config_id: sync_videos_in
                connection_id: minio          # a connection's name or id, in this file or stored
                source_path: media/in
                polling_interval_seconds: 60
                metadata: {team: video}
                objects:                      # objects this sync made (no file contents)
                  - object_id: obj_intro
                    source_key: in/intro.mp4
                    size_bytes: 1048576
                  - source_key: in/outro.mp4  # mime type, blob type, hash: as a run would
              - connection_id: conn_minio
                source_path: media/archive
                sync_mode: initial_only
                status: paused                # state a create cannot set: status, is_active
                is_active: true
          - bucket_name: images
            bucket_schema:
              properties:
                image: {type: image}
"""
