using System;

namespace KernelHarness.Annotations;

// The vocabulary of the API description (src/KernelHarness/Api). Each kernel function is declared
// once, in a description type, with these attributes; the source generator copies them onto the
// generated `Kernel` facade, where the analyzers read them from metadata.

/// <summary>
/// Marks a description type: an interface whose members are dispatched to a bound implementation
/// (the generator emits the public subsystem interface and the facade), or a static class of pure
/// helpers (the facade forwards to them directly, with no interleaving point).
/// </summary>
[AttributeUsage(AttributeTargets.Interface | AttributeTargets.Class, Inherited = false)]
public sealed class KernelSubsystemAttribute : Attribute
{
    public KernelSubsystemAttribute(string name, string interfaceName)
    {
        Name = name;
        InterfaceName = interfaceName;
    }

    /// <summary>The subsystem's name as assignments spell it (<c>"slab"</c>, <c>"page allocator"</c>).</summary>
    public string Name { get; }

    /// <summary>The generated interface's name in <c>KernelHarness.Subsystems</c> (<c>"ISlab"</c>).</summary>
    public string InterfaceName { get; }

    /// <summary>A student may implement this subsystem in an assignment (kernel-api.md §6).</summary>
    public bool Assignable { get; set; }

    /// <summary>The reference implementation the machine binds by default (parameterless constructor).</summary>
    public Type? Reference { get; set; }

    /// <summary>Boot order: lower values are initialised first.</summary>
    public int BootOrder { get; set; }

    /// <summary>The Linux source this subsystem mirrors (<c>"mm/slub.c"</c>).</summary>
    public string? Linux { get; set; }
}

/// <summary>
/// Metadata the generator puts on every facade member: the subsystem that owns it and the Linux
/// function and file it mirrors.
/// </summary>
[AttributeUsage(AttributeTargets.Method | AttributeTargets.Property | AttributeTargets.Field, Inherited = false)]
public sealed class KernelFunctionAttribute : Attribute
{
    public KernelFunctionAttribute(string subsystem, string linuxFunction, string linuxFile)
    {
        Subsystem = subsystem;
        LinuxFunction = linuxFunction;
        LinuxFile = linuxFile;
    }

    public string Subsystem { get; }
    public string LinuxFunction { get; }
    public string LinuxFile { get; }
}

/// <summary>In a description: the Linux file (and function, when its name differs) a member mirrors.</summary>
[AttributeUsage(AttributeTargets.Method | AttributeTargets.Property, Inherited = false)]
public sealed class LinuxAttribute : Attribute
{
    public LinuxAttribute(string file) => File = file;

    public string File { get; }

    /// <summary>The Linux name when it differs from the C# name (C# keywords, name clashes).</summary>
    public string? Function { get; set; }
}

/// <summary>
/// The call may sleep when its <c>gfp_t</c> argument allows blocking
/// (<c>gfpflags_allow_blocking</c>: <c>__GFP_DIRECT_RECLAIM</c> set).
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class MightSleepIfGfpAttribute : Attribute
{
    public MightSleepIfGfpAttribute(string gfpParameter) => GfpParameter = gfpParameter;

    public string GfpParameter { get; }
}

/// <summary>The call enters a lock-less atomic context (preemption or interrupts disabled, RCU, BH).</summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class EntersContextAttribute : Attribute
{
    public EntersContextAttribute(LockKind kind) => Kind = kind;

    public LockKind Kind { get; }

    /// <summary>The <c>out</c> parameter that receives saved interrupt state (<c>local_irq_save</c>).</summary>
    public string? FlagsParameter { get; set; }
}

/// <summary>The call leaves a lock-less atomic context entered by an <see cref="EntersContextAttribute"/> call.</summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class LeavesContextAttribute : Attribute
{
    public LeavesContextAttribute(LockKind kind) => Kind = kind;

    public LockKind Kind { get; }

    /// <summary>The parameter carrying the saved interrupt state (<c>local_irq_restore</c>).</summary>
    public string? FlagsParameter { get; set; }
}

/// <summary>The function that undoes this one (<c>get_cpu</c> pairs with <c>put_cpu</c>).</summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = true, Inherited = false)]
public sealed class PairsWithAttribute : Attribute
{
    public PairsWithAttribute(string function) => Function = function;

    public string Function { get; }
}

/// <summary>
/// A delegate parameter the kernel will call later, and the context it will run in
/// (<c>request_irq</c>'s handler runs in hard-IRQ context).
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = true, Inherited = false)]
public sealed class CallbackAttribute : Attribute
{
    public CallbackAttribute(string parameter, KernelContext context)
    {
        Parameter = parameter;
        Context = context;
    }

    public string Parameter { get; }
    public KernelContext Context { get; }
}

/// <summary>Families of allocators: memory must go back to the family it came from.</summary>
[Flags]
public enum AllocFamily
{
    None = 0,
    /// <summary><c>kmalloc</c>, <c>kzalloc</c>, <c>kcalloc</c>, <c>kmalloc_array</c>, <c>krealloc</c>: freed by <c>kfree</c>.</summary>
    Kmalloc = 1,
    /// <summary><c>kmem_cache_alloc</c>: freed by <c>kmem_cache_free</c> of the same cache.</summary>
    KmemCache = 2,
    /// <summary><c>vmalloc</c>: freed by <c>vfree</c>.</summary>
    Vmalloc = 4,
    /// <summary><c>__get_free_pages</c>: freed by <c>free_pages</c> of the same order.</summary>
    Pages = 8,
    /// <summary><c>alloc_pages</c>: a <c>page</c>, freed by <c>__free_pages</c> of the same order.</summary>
    PageStruct = 16,
    /// <summary><c>kvmalloc</c>: either kmalloc or vmalloc memory; freed by <c>kvfree</c>.</summary>
    Kvmalloc = Kmalloc | Vmalloc,
}

/// <summary>
/// The function returns 0 or a negative errno (<c>request_irq</c>, <c>mutex_lock_interruptible</c>,
/// <c>wait_event_interruptible</c>): a non-zero result is an error its caller passes up. A property of the
/// result, not a role, so that a function with a role (<c>wait_event_interruptible</c> is a
/// <see cref="KernelRole.WaitEvent"/>) can have it too; a student's own helper may carry it as well.
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class ReturnsErrnoAttribute : Attribute { }

/// <summary>The function returns newly allocated memory of a family.</summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class AllocatesAttribute : Attribute
{
    public AllocatesAttribute(AllocFamily family) => Family = family;

    public AllocFamily Family { get; }

    /// <summary>The result can be <c>NULL</c> (always, unless <c>__GFP_NOFAIL</c>).</summary>
    public bool CanFail { get; set; } = true;

    /// <summary>The parameter that gives the size in bytes.</summary>
    public string? Size { get; set; }

    /// <summary>A second size parameter multiplied with <see cref="Size"/> (<c>kcalloc</c>).</summary>
    public string? Count { get; set; }

    /// <summary>The <c>gfp_t</c> parameter.</summary>
    public string? Gfp { get; set; }

    /// <summary>The cache parameter of <c>kmem_cache_alloc</c>.</summary>
    public string? Cache { get; set; }

    /// <summary>The page order parameter.</summary>
    public string? Order { get; set; }

    /// <summary>The memory comes back zeroed whatever the gfp says (<c>kzalloc</c>).</summary>
    public bool Zeroes { get; set; }

    /// <summary>The pointer parameter a reallocation takes over (<c>krealloc</c>).</summary>
    public string? Reallocates { get; set; }
}

/// <summary>The function frees memory of a family.</summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class FreesAttribute : Attribute
{
    public FreesAttribute(AllocFamily family, string pointer)
    {
        Family = family;
        Pointer = pointer;
    }

    public AllocFamily Family { get; }

    /// <summary>The parameter holding what is freed.</summary>
    public string Pointer { get; }

    /// <summary>The cache parameter of <c>kmem_cache_free</c>.</summary>
    public string? Cache { get; set; }

    /// <summary>The page order parameter.</summary>
    public string? Order { get; set; }
}

/// <summary>Special meanings the analyzers need to recognise a member by, not by its name.</summary>
public enum KernelRole
{
    None = 0,
    /// <summary><c>current</c>: the running task (merely the interrupted one in interrupt context).</summary>
    CurrentTask,
    /// <summary><c>jiffies</c>: the tick counter, which wraps.</summary>
    Jiffies,
    /// <summary><c>time_after</c> and friends: wrap-safe comparisons.</summary>
    TimeComparison,
    /// <summary><c>prepare_to_wait</c>.</summary>
    PrepareToWait,
    /// <summary><c>finish_wait</c>.</summary>
    FinishWait,
    /// <summary><c>schedule</c>, <c>schedule_timeout</c>: gives up the CPU.</summary>
    Schedule,
    /// <summary><c>wait_event*</c>: waits with the condition re-checked.</summary>
    WaitEvent,
    /// <summary><c>init_mm</c>.</summary>
    InitMm,
    /// <summary><c>in_task()</c>: true in process context.</summary>
    InTaskPredicate,
    /// <summary><c>in_interrupt()</c>, <c>in_hardirq()</c>, <c>in_softirq()</c>.</summary>
    InInterruptPredicate,
    /// <summary><c>NULL</c>.</summary>
    NullPointer,
    /// <summary><c>ZERO_OR_NULL_PTR</c>: a NULL check.</summary>
    NullCheck,
    /// <summary><c>IS_ERR</c>, <c>IS_ERR_VALUE</c>, <c>IS_ERR_OR_NULL</c>: an error-pointer check.</summary>
    ErrorCheck,
    /// <summary><c>mdelay</c>, <c>udelay</c>, <c>ndelay</c>: busy waits, allowed in atomic context.</summary>
    BusyWait,
    /// <summary>An accessor that dereferences a kernel pointer (<c>ptr_span</c>, <c>memset</c>, …).</summary>
    Dereference,
    /// <summary>A GFP flag composition (<c>GFP_KERNEL</c>, …).</summary>
    GfpFlags,
}

/// <summary>Gives a member a <see cref="KernelRole"/>.</summary>
[AttributeUsage(AttributeTargets.Method | AttributeTargets.Property | AttributeTargets.Field, Inherited = false)]
public sealed class KernelRoleAttribute : Attribute
{
    public KernelRoleAttribute(KernelRole role) => Role = role;

    public KernelRole Role { get; }
}

/// <summary>
/// In a description: a boot hook the machine calls once, in <see cref="KernelSubsystemAttribute.BootOrder"/>,
/// before any test code runs (Linux's <c>mem_init</c>, <c>kmem_cache_init</c>). It gets an empty default body
/// in the generated interface, so an implementation needs it only when it has something to set up.
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class BootHookAttribute : Attribute { }

/// <summary>The call takes ownership of the pointer argument (for the leak rule, KH3004).</summary>
[AttributeUsage(AttributeTargets.Parameter, Inherited = false)]
public sealed class TakesOwnershipAttribute : Attribute { }
