using System.Numerics;
using KernelHarness;
using KernelHarness.Runtime;
using KernelHarness.Subsystems;
using static KernelHarness.Kernel;

namespace Student.CpuState.GetCpuStaysPreemptible;

// Example submission "get-cpu-stays-preemptible": get_cpu returns the CPU id without disabling preemption, so the task can migrate
/// <summary>
/// CPU state: interrupt flags (include/linux/irqflags.h), the preempt count and its predicates
/// (include/linux/preempt.h), get_cpu/put_cpu (include/linux/smp.h), bottom halves and hard-IRQ entry
/// (kernel/softirq.c), per-CPU variables (include/linux/percpu-defs.h), on top of the raw CPU (Arch).
/// </summary>
public sealed class StudentCpuState : ICpuState
{
    // ---- interrupt flags ----

    public void local_irq_disable() => Arch.arch_local_irq_disable();

    public void local_irq_enable() => Arch.arch_local_irq_enable();

    public void local_irq_save(out ulong flags)
    {
        flags = Arch.arch_local_save_flags();
        // SAVE DISABLES
        Arch.arch_local_irq_disable();
    }

    public void local_irq_restore(ulong flags)
    {
        if (!Arch.arch_irqs_disabled())
            WARN(true, "raw_local_irq_restore() called with IRQs enabled");
        // RESTORE
        Arch.arch_local_irq_restore(flags);
    }

    public bool irqs_disabled() => Arch.arch_irqs_disabled();

    // ---- preempt count ----

    public void preempt_disable() => Arch.raw_preempt_count() += PREEMPT_OFFSET;

    public void preempt_enable()
    {
        ref int pc = ref Arch.raw_preempt_count();
        if ((pc & PREEMPT_MASK) == 0)
        {
            WARN(true, "preempt_enable() without preempt_disable()");
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
        if (preempt_count() < val)
        {
            WARN(true, "preempt_count_sub() below zero");
            return;
        }
        pc -= val;
    }

    public int get_cpu()
    {
        return Arch.raw_smp_processor_id(); // the id is all the caller wants
    }

    public void put_cpu()
    {
        // PUT CPU
        preempt_enable();
    }

    public int smp_processor_id()
    {
        Arch.check_preemption_disabled("smp_processor_id");
        return Arch.raw_smp_processor_id();
    }

    // ---- bottom halves and hard-IRQ entry ----

    public void local_bh_disable() => preempt_count_add(SOFTIRQ_DISABLE_OFFSET);

    public void local_bh_enable()
    {
        preempt_count_sub(SOFTIRQ_DISABLE_OFFSET);
        // BH ENABLE RUNS SOFTIRQS
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

    // ---- context predicates ----

    public bool in_interrupt() => (preempt_count() & (NMI_MASK | HARDIRQ_MASK | SOFTIRQ_MASK)) != 0;

    public bool in_hardirq() => (preempt_count() & HARDIRQ_MASK) != 0;

    public bool in_irq() => in_hardirq();

    public bool in_softirq() => (preempt_count() & SOFTIRQ_MASK) != 0;

    public bool in_serving_softirq() => (preempt_count() & SOFTIRQ_OFFSET) != 0;

    public bool in_nmi() => (preempt_count() & NMI_MASK) != 0;

    public bool in_task() => (preempt_count() & (NMI_MASK | HARDIRQ_MASK | SOFTIRQ_OFFSET)) == 0;

    public bool in_atomic() => preempt_count() != 0;

    // ---- per-CPU variables ----

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

    public T this_cpu_read<T>(percpu<T> v) => Arch.raw_cpu_ptr(v, Arch.raw_smp_processor_id());

    public void this_cpu_write<T>(percpu<T> v, T val) => Arch.raw_cpu_ptr(v, Arch.raw_smp_processor_id()) = val;

    public void this_cpu_add<T>(percpu<T> v, T val) where T : INumber<T> => Arch.raw_cpu_ptr(v, Arch.raw_smp_processor_id()) += val;

    public void this_cpu_inc<T>(percpu<T> v) where T : INumber<T> => Arch.raw_cpu_ptr(v, Arch.raw_smp_processor_id())++;

    public void this_cpu_dec<T>(percpu<T> v) where T : INumber<T> => Arch.raw_cpu_ptr(v, Arch.raw_smp_processor_id())--;
}
