def test_viewer_sees_a_seeded_certificate_decoded(dashboard_iot, viewer, client_for):
    response = client_for(viewer).get("/devices/a1Demo7Sh2x/thermo-001/")
    assert response.status_code == 200
    assert b"Alibaba Cloud IoT Operation CA1" in response.content
    assert b"PRIVATE KEY" not in response.content
