"""CloudSim 3.0.3's reference consolidation policies (org.cloudbus.cloudsim.power), as plain
functions, to run through our engine and check it against CloudSim's published figures.

Benchmark code only: nothing in the product imports this.
"""
