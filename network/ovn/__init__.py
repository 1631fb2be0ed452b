"""The OVN gateway: OVSDB (Northbound, Southbound, the local Open_vSwitch) through ovsdbapp. Plain
Python, no Django: network's OVN backend turns the database's objects into the specs it takes."""
