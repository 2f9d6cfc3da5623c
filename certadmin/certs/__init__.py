"""X.509 decoding and bundle building: pure ``cryptography``, no Django.

``decode`` turns the certificate and key text returned by the IoT API into objects and
display-ready details; ``bundles`` serialises them into the files a device operator downloads.
"""
