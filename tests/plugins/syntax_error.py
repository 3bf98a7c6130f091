from selbench.selection import Selector

class Broken(Selector)
    pass
