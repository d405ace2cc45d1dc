"""What one caller may ask of the service: body sizes, request rates, streams, run length.

- `body.py`: a request body over `ORCA_MAX_BODY_BYTES` (`/v1/*`: the embeddings limit) is 413.
- `rates.py`: requests and runs per identity (the `limits` library; Redis or memory) are 429.
- `streams.py`: more concurrent streams per identity than `ORCA_MAX_STREAMS_PER_IDENTITY`
  is 429 before the stream starts.
- `admission.py`: the app-wide dependency that applies rates and streams by route class.
- `clients.py`: whom to count while requests carry no identity: the client's address.
- `runs.py`: the recursion limit and deadline of every run, on every surface.
- `cors.py`: which browser origins may call, by configuration.
"""
