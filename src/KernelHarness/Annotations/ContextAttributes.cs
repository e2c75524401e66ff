using System;

namespace KernelHarness;

// Attributes a student (or the facade) puts on a method to tell the analyzers and the runtime
// what context it runs in and what it does to that context, in the spirit of sparse's
// __acquires/__releases/__must_hold and Linux's might_sleep().

/// <summary>The method runs in atomic context (it must never sleep).</summary>
[AttributeUsage(AttributeTargets.Method | AttributeTargets.Constructor | AttributeTargets.Property, Inherited = false)]
public sealed class AtomicContextAttribute : Attribute { }

/// <summary>The method runs only in process context with nothing held: it may sleep.</summary>
[AttributeUsage(AttributeTargets.Method | AttributeTargets.Constructor | AttributeTargets.Property, Inherited = false)]
public sealed class ProcessContextAttribute : Attribute { }

/// <summary>
/// The method may sleep (Linux's <c>might_sleep()</c>). On the facade the analyzers read it;
/// <see cref="ExceptIn"/> names contexts where the call does not sleep (Linux's <c>vfree</c>
/// defers the free when called from interrupt context).
/// </summary>
[AttributeUsage(AttributeTargets.Method | AttributeTargets.Property, Inherited = false)]
public sealed class MightSleepAttribute : Attribute
{
    /// <summary>Contexts in which the call does not sleep.</summary>
    public KernelContext ExceptIn { get; set; }
}

/// <summary>
/// The method acquires the lock (or context) named by <see cref="Lock"/>: a parameter name or a member
/// path from a parameter or <c>this</c> (<c>"dev.hw_lock"</c>). Sparse's <c>__acquires</c>.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = true, Inherited = false)]
public sealed class AcquiresAttribute : Attribute
{
    public AcquiresAttribute(string @lock) => Lock = @lock;

    /// <summary>The lock: a parameter name or a member path.</summary>
    public string Lock { get; }

    /// <summary>What kind of lock, and so what it does to preemption and interrupts.</summary>
    public LockKind Kind { get; set; } = LockKind.Unknown;

    /// <summary>When the lock is held after the call (trylock-style functions acquire conditionally).</summary>
    public AcquireCondition When { get; set; } = AcquireCondition.Always;

    /// <summary>For <c>*_irqsave</c>: the <c>out</c> parameter that receives the saved interrupt state.</summary>
    public string? FlagsParameter { get; set; }
}

/// <summary>The method releases the lock named by <see cref="Lock"/>. Sparse's <c>__releases</c>.</summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = true, Inherited = false)]
public sealed class ReleasesAttribute : Attribute
{
    public ReleasesAttribute(string @lock) => Lock = @lock;

    /// <summary>The lock: a parameter name or a member path.</summary>
    public string Lock { get; }

    /// <summary>What kind of lock is released, and so what it restores.</summary>
    public LockKind Kind { get; set; } = LockKind.Unknown;

    /// <summary>For <c>*_irqrestore</c>: the parameter carrying the saved interrupt state.</summary>
    public string? FlagsParameter { get; set; }
}

/// <summary>The caller must hold the named lock. Sparse's <c>__must_hold</c>.</summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = true, Inherited = false)]
public sealed class MustHoldAttribute : Attribute
{
    public MustHoldAttribute(string @lock) => Lock = @lock;

    /// <summary>The lock: a parameter name or a member path.</summary>
    public string Lock { get; }
}

/// <summary>Execution contexts of Linux code, as flags so a set can be named.</summary>
[Flags]
public enum KernelContext
{
    None = 0,
    /// <summary>Process (task) context: may sleep when nothing is held.</summary>
    Process = 1,
    /// <summary>Softirq context: tasklets, timers.</summary>
    SoftIrq = 2,
    /// <summary>Hard-IRQ context: the primary handler of an interrupt.</summary>
    HardIrq = 4,
    /// <summary>Either kind of interrupt context.</summary>
    Interrupt = SoftIrq | HardIrq,
}

/// <summary>The lock kinds of the kernel API and what each does to the CPU state.</summary>
public enum LockKind
{
    Unknown = 0,
    /// <summary><c>spin_lock</c>: preemption disabled.</summary>
    Spin,
    /// <summary><c>spin_lock_irq</c>: preemption and interrupts disabled; released by <c>spin_unlock_irq</c>.</summary>
    SpinIrq,
    /// <summary><c>spin_lock_irqsave</c>: interrupts saved and disabled; released by <c>spin_unlock_irqrestore</c>.</summary>
    SpinIrqSave,
    /// <summary><c>spin_lock_bh</c>: bottom halves disabled; released by <c>spin_unlock_bh</c>.</summary>
    SpinBh,
    ReadLock,
    ReadLockIrq,
    ReadLockIrqSave,
    ReadLockBh,
    WriteLock,
    WriteLockIrq,
    WriteLockIrqSave,
    WriteLockBh,
    /// <summary><c>mutex_lock</c>: a sleeping lock.</summary>
    Mutex,
    /// <summary><c>down</c>: a counting semaphore (sleeping).</summary>
    Semaphore,
    /// <summary><c>rcu_read_lock</c>: an RCU read-side critical section (no lock object).</summary>
    Rcu,
    /// <summary><c>mmap_read_lock</c>: the mm's sleeping read/write semaphore, read side.</summary>
    MmapRead,
    /// <summary><c>mmap_write_lock</c>: the mm's sleeping read/write semaphore, write side.</summary>
    MmapWrite,
    /// <summary><c>down_read</c>: a sleeping read/write semaphore, read side.</summary>
    RwSemRead,
    /// <summary><c>down_write</c>: a sleeping read/write semaphore, write side.</summary>
    RwSemWrite,
    /// <summary><c>local_irq_save</c>: interrupts saved into flags and disabled (no lock object).</summary>
    IrqSave,
    /// <summary><c>local_irq_disable</c>: interrupts disabled (no lock object, does not nest).</summary>
    IrqDisable,
    /// <summary><c>preempt_disable</c>, <c>get_cpu</c>: preemption disabled (no lock object).</summary>
    Preempt,
    /// <summary><c>local_bh_disable</c>: bottom halves disabled (no lock object).</summary>
    BottomHalf,
    /// <summary><c>kmap_atomic</c>: an atomic mapping (disables preemption).</summary>
    KmapAtomic,
}

/// <summary>When a conditional acquire (trylock) holds the lock after it returns.</summary>
public enum AcquireCondition
{
    Always = 0,
    /// <summary>Held when the function returns <c>true</c> (<c>spin_trylock</c>).</summary>
    ReturnsTrue,
    /// <summary>Held when the function returns a non-zero value (<c>mutex_trylock</c>).</summary>
    ReturnsNonZero,
    /// <summary>Held when the function returns 0 (<c>down_trylock</c>, <c>mutex_lock_interruptible</c>).</summary>
    ReturnsZero,
    /// <summary>Held when the function returns a non-null reference.</summary>
    ReturnsNonNull,
}
