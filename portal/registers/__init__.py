"""The council's governance registers: who may receive data, and who must be chased.

The council may share only with a school whose governing body signed the access protocol, and
only with named users the school still confirms as its safeguarding leads. These registers
record that, and the rules that read them are small pure functions (``rules``) so the
portal's access layer and the reports decide the same way.
"""
