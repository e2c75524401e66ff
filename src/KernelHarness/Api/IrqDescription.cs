using System.Numerics;
using KernelHarness.Annotations;

namespace KernelHarness.Api;

/// <summary>
/// Interrupt lines (kernel-api.md §4): requesting and freeing handlers, shared lines, dispatch,
/// threaded handlers, disable depth and spurious-interrupt detection (kernel/irq/).
/// </summary>
[KernelSubsystem("irq", "IIrq", Assignable = true, BootOrder = 40, Reference = typeof(Reference.Irq.ReferenceIrq), Linux = "kernel/irq/manage.c")]
internal interface IrqDescription
{
    /// <summary>Creates the interrupt descriptors at boot.</summary>
    [Linux("kernel/irq/irqdesc.c"), BootHook]
    void early_irq_init();

    /// <summary>Adds a hard-IRQ handler to line <paramref name="irq"/>; 0 or a negative errno.</summary>
    [Linux("include/linux/interrupt.h"), MightSleep, Callback("handler", KernelContext.HardIrq), PairsWith("free_irq"), ReturnsErrno]
    int request_irq(uint irq, irq_handler_t handler, ulong flags, string name, object? dev);

    /// <summary>Adds a handler whose <paramref name="thread_fn"/> runs in a kernel thread (process context) when <paramref name="handler"/> returns <c>IRQ_WAKE_THREAD</c>.</summary>
    [Linux("kernel/irq/manage.c"), MightSleep, Callback("handler", KernelContext.HardIrq), Callback("thread_fn", KernelContext.Process), PairsWith("free_irq"), ReturnsErrno]
    int request_threaded_irq(uint irq, irq_handler_t? handler, irq_handler_t? thread_fn, ulong flags, string name, object? dev);

    /// <summary>Removes the action whose <c>dev_id</c> is <paramref name="dev_id"/>; returns its name, or null (with a warning) when none matches.</summary>
    [Linux("kernel/irq/manage.c"), MightSleep]
    string? free_irq(uint irq, object? dev_id);

    /// <summary>Disables a line (nesting) and waits for running handlers to finish.</summary>
    [Linux("kernel/irq/manage.c"), MightSleep, PairsWith("enable_irq")]
    void disable_irq(uint irq);

    /// <summary>Disables a line (nesting) without waiting.</summary>
    [Linux("kernel/irq/manage.c"), PairsWith("enable_irq")]
    void disable_irq_nosync(uint irq);

    /// <summary>Undoes one <c>disable_irq</c>; warns "Unbalanced enable for IRQ N" at depth 0.</summary>
    [Linux("kernel/irq/manage.c")]
    void enable_irq(uint irq);

    /// <summary>Waits until no handler of the line runs on any CPU and no threaded handler is active.</summary>
    [Linux("kernel/irq/manage.c"), MightSleep]
    void synchronize_irq(uint irq);

    /// <summary>Runs every action of the line for one interrupt (called by the interrupt controller in hard-IRQ context).</summary>
    [Linux("kernel/irq/irqdesc.c"), ReturnsErrno]
    int generic_handle_irq(uint irq);

    /// <summary>The descriptor of a line, or null.</summary>
    [Linux("kernel/irq/irqdesc.c")]
    irq_desc? irq_to_desc(uint irq);
}

/// <summary>
/// CPU state (kernel-api.md §4): interrupt flags, the preempt count and its context predicates,
/// per-CPU variables. Built on the simulated CPU's raw state (<see cref="Runtime.Arch"/>).
/// </summary>
[KernelSubsystem("cpu state", "ICpuState", Assignable = true, BootOrder = 5, Reference = typeof(Reference.CpuState.ReferenceCpuState), Linux = "include/linux/preempt.h")]
internal interface CpuStateDescription
{
    /// <summary>Disables interrupts on this CPU (does not nest).</summary>
    [Linux("include/linux/irqflags.h"), EntersContext(LockKind.IrqDisable), PairsWith("local_irq_enable")]
    void local_irq_disable();

    /// <summary>Enables interrupts on this CPU.</summary>
    [Linux("include/linux/irqflags.h"), LeavesContext(LockKind.IrqDisable)]
    void local_irq_enable();

    /// <summary>Saves the interrupt state in <paramref name="flags"/> and disables interrupts.</summary>
    [Linux("include/linux/irqflags.h"), EntersContext(LockKind.IrqSave, FlagsParameter = "flags"), PairsWith("local_irq_restore")]
    void local_irq_save(out ulong flags);

    /// <summary>Restores exactly the interrupt state saved in <paramref name="flags"/>.</summary>
    [Linux("include/linux/irqflags.h"), LeavesContext(LockKind.IrqSave, FlagsParameter = "flags")]
    void local_irq_restore(ulong flags);

    /// <summary>True when interrupts are disabled on this CPU.</summary>
    [Linux("include/linux/irqflags.h")]
    bool irqs_disabled();

    /// <summary>Increments the preempt count: the task cannot be preempted or migrated.</summary>
    [Linux("include/linux/preempt.h"), EntersContext(LockKind.Preempt), PairsWith("preempt_enable")]
    void preempt_disable();

    /// <summary>Decrements the preempt count; at zero, reschedules if needed.</summary>
    [Linux("include/linux/preempt.h"), LeavesContext(LockKind.Preempt)]
    void preempt_enable();

    /// <summary>The preempt count: preempt bits 0-7, softirq 8-15, hardirq 16-19, NMI 20-23.</summary>
    [Linux("include/asm-generic/preempt.h")]
    int preempt_count();

    /// <summary>Adds <paramref name="val"/> to the preempt count.</summary>
    [Linux("include/linux/preempt.h")]
    void preempt_count_add(int val);

    /// <summary>Subtracts <paramref name="val"/> from the preempt count.</summary>
    [Linux("include/linux/preempt.h")]
    void preempt_count_sub(int val);

    /// <summary>Disables preemption and returns this CPU's id.</summary>
    [Linux("include/linux/smp.h"), EntersContext(LockKind.Preempt), PairsWith("put_cpu")]
    int get_cpu();

    /// <summary>Undoes <c>get_cpu</c>.</summary>
    [Linux("include/linux/smp.h"), LeavesContext(LockKind.Preempt)]
    void put_cpu();

    /// <summary>This CPU's id; reported as a bug in preemptible code.</summary>
    [Linux("lib/smp_processor_id.c")]
    int smp_processor_id();

    /// <summary>Disables softirq processing on this CPU (adds <c>SOFTIRQ_DISABLE_OFFSET</c>).</summary>
    [Linux("include/linux/bottom_half.h"), EntersContext(LockKind.BottomHalf), PairsWith("local_bh_enable")]
    void local_bh_disable();

    /// <summary>Re-enables softirq processing; runs pending softirqs when it reaches zero.</summary>
    [Linux("kernel/softirq.c"), LeavesContext(LockKind.BottomHalf)]
    void local_bh_enable();

    /// <summary>Enters hard-IRQ context (adds <c>HARDIRQ_OFFSET</c>).</summary>
    [Linux("kernel/softirq.c")]
    void irq_enter();

    /// <summary>Leaves hard-IRQ context; runs pending softirqs when leaving the outermost level.</summary>
    [Linux("kernel/softirq.c")]
    void irq_exit();

    /// <summary>True in hard-IRQ, softirq or NMI context, or with bottom halves disabled.</summary>
    [Linux("include/linux/preempt.h"), KernelRole(KernelRole.InInterruptPredicate)]
    bool in_interrupt();

    /// <summary>True in hard-IRQ context.</summary>
    [Linux("include/linux/preempt.h"), KernelRole(KernelRole.InInterruptPredicate)]
    bool in_hardirq();

    /// <summary>The deprecated name of <c>in_hardirq()</c>.</summary>
    [Linux("include/linux/preempt.h"), KernelRole(KernelRole.InInterruptPredicate)]
    bool in_irq();

    /// <summary>True while serving softirqs or with bottom halves disabled.</summary>
    [Linux("include/linux/preempt.h"), KernelRole(KernelRole.InInterruptPredicate)]
    bool in_softirq();

    /// <summary>True only while serving softirqs.</summary>
    [Linux("include/linux/preempt.h"), KernelRole(KernelRole.InInterruptPredicate)]
    bool in_serving_softirq();

    /// <summary>True in NMI context.</summary>
    [Linux("include/linux/preempt.h")]
    bool in_nmi();

    /// <summary>True in process (task) context.</summary>
    [Linux("include/linux/preempt.h"), KernelRole(KernelRole.InTaskPredicate)]
    bool in_task();

    /// <summary>True when the preempt count is non-zero.</summary>
    [Linux("include/linux/preempt.h")]
    bool in_atomic();

    /// <summary>A CPU's copy of a per-CPU variable.</summary>
    [Linux("include/linux/percpu-defs.h")]
    ref T per_cpu<T>(percpu<T> v, int cpu);

    /// <summary>Disables preemption and returns this CPU's copy.</summary>
    [Linux("include/linux/percpu-defs.h"), EntersContext(LockKind.Preempt), PairsWith("put_cpu_var")]
    ref T get_cpu_var<T>(percpu<T> v);

    /// <summary>Undoes <c>get_cpu_var</c>.</summary>
    [Linux("include/linux/percpu-defs.h"), LeavesContext(LockKind.Preempt)]
    void put_cpu_var<T>(percpu<T> v);

    /// <summary>This CPU's copy (the caller keeps preemption disabled).</summary>
    [Linux("include/linux/percpu-defs.h")]
    ref T this_cpu_ptr<T>(percpu<T> v);

    /// <summary>Reads this CPU's copy, safe against preemption.</summary>
    [Linux("include/linux/percpu-defs.h")]
    T this_cpu_read<T>(percpu<T> v);

    /// <summary>Writes this CPU's copy, safe against preemption.</summary>
    [Linux("include/linux/percpu-defs.h")]
    void this_cpu_write<T>(percpu<T> v, T val);

    /// <summary>Adds to this CPU's copy, safe against preemption and interrupts.</summary>
    [Linux("include/linux/percpu-defs.h")]
    void this_cpu_add<T>(percpu<T> v, T val) where T : INumber<T>;

    /// <summary>Increments this CPU's copy.</summary>
    [Linux("include/linux/percpu-defs.h")]
    void this_cpu_inc<T>(percpu<T> v) where T : INumber<T>;

    /// <summary>Decrements this CPU's copy.</summary>
    [Linux("include/linux/percpu-defs.h")]
    void this_cpu_dec<T>(percpu<T> v) where T : INumber<T>;
}
