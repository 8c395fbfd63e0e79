"""The local edge: CloudFront's behaviour in front of S3, for ``tachyon-edge dev``, compose and tests.

``cloudfront`` (the aiohttp distribution), ``cache`` (its TTL rules), ``seed``
(originals from a folder), ``index`` (the ``/`` page), ``server`` (starting
and stopping the embedded parts).
"""
