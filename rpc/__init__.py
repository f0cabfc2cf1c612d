"""The gRPC adapter: the playlist service as protobuf over HTTP/2, with two streams."""
