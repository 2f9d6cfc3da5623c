"""The device pages, one module per thing a person does: ``search`` (find a device, list a
product's devices), ``certificate`` (the certificate page and its downloads) and ``keys``
(reveal the private key, download it in a bundle). ``common`` holds what they share."""
