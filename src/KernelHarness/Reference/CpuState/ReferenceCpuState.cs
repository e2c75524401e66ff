using KernelHarness.Runtime;
using KernelHarness.Subsystems;
using static KernelHarness.Kernel;

namespace KernelHarness.Reference.CpuState;

/// <summary>
/// The reference "cpu state" subsystem: interrupt flags, the preempt count and the context
/// predicates exactly as include/linux/preempt.h, irqflags.h and kernel/softirq.c define them,
/// and per-CPU variables. Built on the raw CPU state of <see cref="Arch"/>.
/// </summary>
public sealed class ReferenceCpuState : ICpuState
{
    // ---- Interrupt flags (include/linux/irqflags.h) ----

    public void local_irq_disable() => Arch.arch_local_irq_disable();

    public void local_irq_enable() => Arch.arch_local_irq_enable();

    public void local_irq_save(out ulong flags)
    {
        flags = Arch.arch_local_save_flags();
        Arch.arch_local_irq_disable();
    }

    public void local_irq_restore(ulong flags)
    {
        // kernel/locking/irqflag-debug.c: restoring while interrupts are on means saves and restores crossed.
        if (!Arch.arch_irqs_disabled())
            Machine.Current.Warn("raw_local_irq_restore() called with IRQs enabled", "warn_bogus_irq_restore");
        Arch.arch_local_irq_restore(flags);
    }

    public bool irqs_disabled() => Arch.arch_irqs_disabled();

    // ---- Preempt count (include/linux/preempt.h) ----

    public void preempt_disable() => Arch.raw_preempt_count() += PREEMPT_OFFSET;

    public void preempt_enable()
    {
        ref int pc = ref Arch.raw_preempt_count();
        if ((pc & PREEMPT_MASK) == 0)
        {
            Machine.Current.Warn("DEBUG_LOCKS_WARN_ON(val > preempt_count()): preempt_enable() without preempt_disable()", "preempt_count_sub");
            return;
        }
        pc -= PREEMPT_OFFSET;
        if (pc == 0)
            Arch.preempt_schedule();
    }

    public int preempt_count() => Arch.raw_preempt_count() & ~PREEMPT_NEED_RESCHED;

    public void preempt_count_add(int val) => Arch.raw_preempt_count() += val;

    public void preempt_count_sub(int val)
    {
        ref int pc = ref Arch.raw_preempt_count();
        if ((pc & ~PREEMPT_NEED_RESCHED) < val)
        {
            Machine.Current.Warn("DEBUG_LOCKS_WARN_ON(val > preempt_count())", "preempt_count_sub");
            return;
        }
        pc -= val;
    }

    public int get_cpu()
    {
        preempt_disable();
        return Arch.raw_smp_processor_id();
    }

    public void put_cpu() => preempt_enable();

    public int smp_processor_id()
    {
        Arch.check_preemption_disabled("smp_processor_id");
        return Arch.raw_smp_processor_id();
    }

    // ---- Bottom halves and hard-IRQ entry (kernel/softirq.c) ----

    public void local_bh_disable() => preempt_count_add(SOFTIRQ_DISABLE_OFFSET);

    public void local_bh_enable()
    {
        preempt_count_sub(SOFTIRQ_DISABLE_OFFSET);
        if (!in_interrupt() && Arch.local_softirq_pending())
            Arch.do_softirq();
    }

    public void irq_enter() => preempt_count_add(HARDIRQ_OFFSET);

    public void irq_exit()
    {
        preempt_count_sub(HARDIRQ_OFFSET);
        if (!in_interrupt() && Arch.local_softirq_pending())
            Arch.do_softirq();
    }

    // ---- Context predicates (include/linux/preempt.h) ----

    public bool in_interrupt() => (preempt_count() & (NMI_MASK | HARDIRQ_MASK | SOFTIRQ_MASK)) != 0;

    public bool in_hardirq() => (preempt_count() & HARDIRQ_MASK) != 0;

    public bool in_irq() => in_hardirq();

    public bool in_softirq() => (preempt_count() & SOFTIRQ_MASK) != 0;

    public bool in_serving_softirq() => (preempt_count() & SOFTIRQ_OFFSET) != 0;

    public bool in_nmi() => (preempt_count() & NMI_MASK) != 0;

    public bool in_task() => (preempt_count() & (NMI_MASK | HARDIRQ_MASK | SOFTIRQ_OFFSET)) == 0;

    public bool in_atomic() => preempt_count() != 0;

    // ---- Per-CPU variables (include/linux/percpu-defs.h) ----

    public ref T per_cpu<T>(percpu<T> v, int cpu) => ref Arch.raw_cpu_ptr(v, cpu);

    public ref T get_cpu_var<T>(percpu<T> v)
    {
        preempt_disable();
        return ref Arch.raw_cpu_ptr(v, Arch.raw_smp_processor_id());
    }

    public void put_cpu_var<T>(percpu<T> v) => preempt_enable();

    public ref T this_cpu_ptr<T>(percpu<T> v)
    {
        Arch.check_preemption_disabled("this_cpu_ptr");
        return ref Arch.raw_cpu_ptr(v, Arch.raw_smp_processor_id());
    }

    // this_cpu_* operations are atomic with respect to preemption and interrupts on this CPU:
    // nothing interleaves inside them, so no preemption check is needed.

    public T this_cpu_read<T>(percpu<T> v) => Arch.raw_cpu_ptr(v, Arch.raw_smp_processor_id());

    public void this_cpu_write<T>(percpu<T> v, T val) => Arch.raw_cpu_ptr(v, Arch.raw_smp_processor_id()) = val;

    public void this_cpu_add<T>(percpu<T> v, T val) where T : System.Numerics.INumber<T> =>
        Arch.raw_cpu_ptr(v, Arch.raw_smp_processor_id()) += val;

    public void this_cpu_inc<T>(percpu<T> v) where T : System.Numerics.INumber<T> =>
        Arch.raw_cpu_ptr(v, Arch.raw_smp_processor_id())++;

    public void this_cpu_dec<T>(percpu<T> v) where T : System.Numerics.INumber<T> =>
        Arch.raw_cpu_ptr(v, Arch.raw_smp_processor_id())--;
}
