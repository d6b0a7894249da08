from .align import align, rebasin
from .assignment import linear_assignment
from .masks import parameter_masks
