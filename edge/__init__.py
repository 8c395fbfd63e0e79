"""The Lambda@Edge side: the origin-request / origin-response flow and its adapters.

``edge.handler`` holds the two Lambda entry points, ``edge.flow`` the flow they
run, and ``events``, ``s3``, ``queue`` and ``trace`` the thin adapters around the
derivative core (``core``). ``edge.local`` is the local CloudFront that runs the
same flow on a laptop. See docs/edge.md.
"""
