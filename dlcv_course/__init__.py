"Deep learning for computer vision, generative models and domain adaptation, on fastai."
__version__ = "0.0.1"

import warnings as _w
# fastai's layers use `torch.jit.script`, which torch 2.14 deprecates: noise for students, not their concern
_w.filterwarnings('ignore', message='.*torch.jit.script.*', category=FutureWarning)
# fastai.tabular (imported by fastai.basics) sets a pandas option that pandas 3 deprecates: the same kind of noise
_w.filterwarnings('ignore', message=".*'mode.chained_assignment' option is deprecated.*")
