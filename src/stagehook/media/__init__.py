"""Uploaded images: sniffing, content-addressed storage and streamed multipart uploads."""
