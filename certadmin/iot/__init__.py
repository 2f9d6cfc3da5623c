"""Client for Alibaba Cloud IoT Platform's certificate APIs. Pure Python: no Django imports."""
