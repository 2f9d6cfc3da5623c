"""X.509 loading, description and bundle building: pure ``cryptography``, no Django.

``loading`` turns the certificate and key text returned by the IoT API into objects;
``fingerprints`` names a key pair by hash and tells whether a key fits a certificate;
``chain`` checks a certificate against the CA bundle; ``details`` describes it for display
(``der`` is its fallback for certificates cryptography will not fully parse); ``bundles``
serialises them into the files a device operator downloads.
"""
