"""What edge/bench (Device, gpucheck) and the precompiled-kernel loader use of
pycuda.driver beyond tests/fake_device.py's fake, added only where that fake lacks it (real
pycuda has all of it); and a context stack whose push/pop must balance. Kept apart from
tests/fake_device.py, which another change is rewriting; drop what it comes to provide."""

from __future__ import annotations

from collections.abc import Callable


def complete(mods: dict, stack: list) -> Callable[[], None]:
    """What Device needs of pycuda.driver beyond the shared fake, added only where the
    fake lacks it (real pycuda has all of it): synchronous copies, device count, driver
    version, the SM count, ``Context.get_device``, and a context stack that must balance."""
    drv = mods["pycuda.driver"]
    pkg = mods["pycuda"]
    own = getattr(getattr(drv, "gpu", None), "check_clean", None)
    if not hasattr(pkg, "VERSION_TEXT"):
        pkg.VERSION_TEXT = "fake"
    if not hasattr(drv, "Error"):
        drv.Error = type("Error", (Exception,), {})
    if not hasattr(drv, "get_driver_version"):
        drv.get_driver_version = lambda: 12060
    if not hasattr(drv, "memcpy_htod"):
        drv.memcpy_htod = lambda dst, src: drv.memcpy_htod_async(dst, src)
    if not hasattr(drv, "memcpy_dtoh"):
        drv.memcpy_dtoh = lambda dst, src: drv.memcpy_dtoh_async(dst, src)
    dev_cls = drv.Device
    if not hasattr(dev_cls, "count"):
        dev_cls.count = staticmethod(lambda: 1)
    attr = drv.device_attribute
    if not hasattr(attr, "MULTIPROCESSOR_COUNT"):
        attr.MULTIPROCESSOR_COUNT = "SMS"
        get = dev_cls.get_attribute
        dev_cls.get_attribute = lambda self, a: 8 if a == "SMS" else get(self, a)
    if not hasattr(drv.Context, "get_device"):
        drv.Context.get_device = staticmethod(lambda: dev_cls(0))
    if own is not None:  # the fake keeps a real context stack: use its own check
        return own
    retain = dev_cls.retain_primary_context

    def retain_counted(self):  # push/pop must balance whatever the fake's own Ctx does
        ctx = retain(self)
        push, pop = ctx.push, ctx.pop

        def counted_push() -> None:
            stack.append(ctx)
            push()

        def counted_pop() -> None:
            assert stack and stack[-1] is ctx, "pop of a context that is not current"
            stack.pop()
            pop()

        ctx.push, ctx.pop = counted_push, counted_pop
        return ctx

    dev_cls.retain_primary_context = retain_counted

    def check() -> None:
        assert not stack, "a CUDA context was left pushed (pycuda aborts at exit)"

    return check
