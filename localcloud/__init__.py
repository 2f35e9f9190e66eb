"""localcloud: a local Tencent Cloud (TCR API, COS, SCF function host) on 127.0.0.1.

It stands for the cloud, so it never imports the product's `shared` package: if both
shared a bug, no test could see it.
"""
