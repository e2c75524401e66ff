using System.Collections.Generic;
using System.Linq;
using KernelHarness.Runtime;
using KernelHarness.Subsystems;
using static KernelHarness.Kernel;

namespace KernelHarness.Conformance.CpuState;

/// <summary>
/// The cpu-state subsystem: interrupt flags (include/linux/irqflags.h, kernel/locking/irqflag-debug.c),
/// the preempt count and its predicates (include/linux/preempt.h), get_cpu/put_cpu (include/linux/smp.h),
/// per-CPU variables (include/linux/percpu-defs.h) and softirq entry (kernel/softirq.c).
/// </summary>
/// <remarks>
/// The runtime's own machinery (interrupt entry, softirqs, locks) calls the bound implementation, so a
/// bug shows up as the whole machine misbehaving; each test still checks one function's contract
/// directly, against the raw CPU state of <see cref="Arch"/>.
/// </remarks>
[ConformanceSuite("cpu state")]
public sealed class CpuStateSuite
{
    private static readonly percpu<long> Counter = DEFINE_PER_CPU(7L);

    private static int Raw => Arch.raw_preempt_count();

    private static bool RawOff => Arch.arch_irqs_disabled();

    // ---------------------------------------------------------------- irq flags

    [ConformanceTest("local_irq_save/local_irq_restore in include/linux/irqflags.h: nested saves and restores put back exactly the saved state")]
    public void nested_irq_save_and_restore(ConformanceContext ctx)
    {
        var cs = ctx.Subject<ICpuState>();
        ctx.Check(!RawOff, "test setup: task context starts with interrupts enabled");
        cs.local_irq_save(out ulong f1);
        ctx.Check(RawOff, "local_irq_save() disables interrupts");
        ctx.Check((f1 & X86_EFLAGS_IF) != 0, "flags saved while enabled record the enabled state (X86_EFLAGS_IF)", "0x200 set", $"0x{f1:x}");
        cs.local_irq_save(out ulong f2);
        ctx.Check(RawOff, "a nested local_irq_save() keeps interrupts disabled");
        ctx.Check((f2 & X86_EFLAGS_IF) == 0, "flags saved while disabled record the disabled state", "0x200 clear", $"0x{f2:x}");
        cs.local_irq_restore(f2);
        ctx.Check(RawOff, "local_irq_restore() of flags saved while disabled leaves interrupts disabled (restore is not enable)");
        ctx.Check(cs.irqs_disabled(), "irqs_disabled() is true with interrupts off");
        cs.local_irq_restore(f1);
        ctx.Check(!RawOff, "the outer local_irq_restore() enables interrupts again");
        ctx.Check(!cs.irqs_disabled(), "irqs_disabled() is false with interrupts on");
    }

    [ConformanceTest("local_irq_save in include/linux/irqflags.h: saving with interrupts already disabled and restoring keeps them disabled")]
    public void save_and_restore_inside_local_irq_disable(ConformanceContext ctx)
    {
        var cs = ctx.Subject<ICpuState>();
        cs.local_irq_disable();
        ctx.Check(RawOff, "local_irq_disable() disables interrupts");
        cs.local_irq_save(out ulong f);
        cs.local_irq_restore(f);
        ctx.Check(RawOff, "save/restore inside local_irq_disable() must not enable interrupts");
        cs.local_irq_enable();
        ctx.Check(!RawOff, "local_irq_enable() enables interrupts");
    }

    [ConformanceTest("local_irq_disable/local_irq_enable in include/linux/irqflags.h: they do not nest; one enable enables")]
    public void local_irq_enable_does_not_nest(ConformanceContext ctx)
    {
        var cs = ctx.Subject<ICpuState>();
        cs.local_irq_disable();
        cs.local_irq_disable();
        cs.local_irq_enable();
        ctx.Check(!RawOff, "after two local_irq_disable() one local_irq_enable() enables interrupts");
        ctx.Check(!cs.irqs_disabled(), "irqs_disabled() follows the CPU's flag");
        Arch.arch_local_irq_disable();
        ctx.Check(cs.irqs_disabled(), "irqs_disabled() reads the CPU's real interrupt flag");
        Arch.arch_local_irq_enable();
    }

    [ConformanceTest("warn_bogus_irq_restore in kernel/locking/irqflag-debug.c: local_irq_restore() while interrupts are enabled warns")]
    public void restore_with_interrupts_enabled_warns(ConformanceContext ctx)
    {
        var cs = ctx.Subject<ICpuState>();
        cs.local_irq_save(out ulong f1);
        cs.local_irq_save(out ulong f2);
        cs.local_irq_restore(f1);
        int mark = ctx.Machine.Log.Lines.Count;
        cs.local_irq_restore(f2); // crossed: interrupts are on, restoring "disabled"
        ctx.AllowReports(ReportKind.Warning, ReportKind.IrqWarning);
        ctx.Check(ctx.Machine.Log.Lines.Skip(mark).Any(l => l.Text.Contains("raw_local_irq_restore() called with IRQs enabled", System.StringComparison.Ordinal)),
            "restoring flags while interrupts are enabled warns \"raw_local_irq_restore() called with IRQs enabled\"");
        ctx.Check(RawOff, "the restore still sets the saved (disabled) state");
        cs.local_irq_enable();
    }

    // ---------------------------------------------------------------- preempt count

    [ConformanceTest("preempt_disable/preempt_enable in include/linux/preempt.h: each adds/subtracts PREEMPT_OFFSET (1) and they nest")]
    public void preempt_disable_counts_and_nests(ConformanceContext ctx)
    {
        var cs = ctx.Subject<ICpuState>();
        ctx.Equal(0, Raw, "test setup: task context starts with preempt count 0");
        for (int i = 1; i <= 3; i++)
        {
            cs.preempt_disable();
            ctx.Equal(i, Raw, $"after {i} preempt_disable() the count is {i}");
            ctx.Equal(i, cs.preempt_count(), "preempt_count() reads the count");
            ctx.Check(cs.in_atomic(), "in_atomic() with preemption disabled");
        }
        for (int i = 2; i >= 0; i--)
        {
            cs.preempt_enable();
            ctx.Equal(i, Raw, $"preempt_enable() brings the count down to {i}");
        }
        ctx.Check(!cs.in_atomic(), "in_atomic() is false at count 0");
    }

    [ConformanceTest("preempt_count_add/sub, irq_enter, local_bh_disable in include/linux/preempt.h and kernel/softirq.c: exact offsets (0x10000, 0x200, 0x10001)")]
    public void preempt_count_offsets_are_linux_values(ConformanceContext ctx)
    {
        var cs = ctx.Subject<ICpuState>();
        Arch.arch_local_irq_disable(); // hard-IRQ context runs with interrupts off
        cs.irq_enter();
        ctx.Equal(0x10000, Raw, "irq_enter() adds HARDIRQ_OFFSET (0x10000)");
        cs.preempt_disable();
        ctx.Equal(0x10001, Raw, "inside irq_enter() with one preempt_disable() the count is 0x10001");
        cs.preempt_enable();
        cs.irq_exit();
        ctx.Equal(0, Raw, "irq_exit() takes HARDIRQ_OFFSET off again");
        Arch.arch_local_irq_enable();
        cs.local_bh_disable();
        ctx.Equal(0x200, Raw, "local_bh_disable() adds SOFTIRQ_DISABLE_OFFSET (0x200)");
        cs.local_bh_disable();
        ctx.Equal(0x400, Raw, "local_bh_disable() nests");
        cs.local_bh_enable();
        cs.local_bh_enable();
        ctx.Equal(0, Raw, "local_bh_enable() subtracts SOFTIRQ_DISABLE_OFFSET");
        cs.preempt_count_add(SOFTIRQ_OFFSET);
        ctx.Equal(0x100, Raw, "preempt_count_add(SOFTIRQ_OFFSET) adds 0x100");
        cs.preempt_count_sub(SOFTIRQ_OFFSET);
        ctx.Equal(0, Raw, "preempt_count_sub(SOFTIRQ_OFFSET) subtracts 0x100");
    }

    /// <summary>(count, in_interrupt, in_hardirq, in_softirq, in_serving_softirq, in_nmi, in_task, in_atomic): include/linux/preempt.h.</summary>
    private static readonly (int Pc, string What, bool Interrupt, bool Hard, bool Soft, bool Serving, bool Nmi, bool Task, bool Atomic)[] Contexts =
    {
        (0x0, "task", false, false, false, false, false, true, false),
        (0x1, "preemption disabled", false, false, false, false, false, true, true),
        (0x200, "bottom halves disabled", true, false, true, false, false, true, true),
        (0x100, "serving a softirq", true, false, true, true, false, false, true),
        (0x201, "spin_lock_bh (SOFTIRQ_LOCK_OFFSET)", true, false, true, false, false, true, true),
        (0x10000, "hard IRQ", true, true, false, false, false, false, true),
        (0x10001, "hard IRQ with preemption disabled", true, true, false, false, false, false, true),
        (0x10100, "hard IRQ that interrupted a softirq", true, true, true, true, false, false, true),
        (0x110000, "NMI (nmi_enter adds NMI_OFFSET + HARDIRQ_OFFSET)", true, true, false, false, true, false, true),
    };

    [ConformanceTest("in_interrupt/in_hardirq/in_irq/in_softirq/in_serving_softirq/in_nmi/in_task/in_atomic in include/linux/preempt.h: exact values in every context")]
    public void context_predicates_in_every_context(ConformanceContext ctx)
    {
        var cs = ctx.Subject<ICpuState>();
        Arch.arch_local_irq_disable(); // no interrupt may arrive while the count is forged
        try
        {
            foreach (var c in Contexts)
            {
                Arch.raw_preempt_count() = c.Pc;
                string at = $"at preempt_count 0x{c.Pc:x} ({c.What})";
                ctx.Equal(c.Pc, cs.preempt_count(), $"preempt_count() {at}");
                ctx.Equal(c.Interrupt, cs.in_interrupt(), $"in_interrupt() {at}: pc & (NMI_MASK|HARDIRQ_MASK|SOFTIRQ_MASK)");
                ctx.Equal(c.Hard, cs.in_hardirq(), $"in_hardirq() {at}: pc & HARDIRQ_MASK");
                ctx.Equal(c.Hard, cs.in_irq(), $"in_irq() {at}: the old name of in_hardirq()");
                ctx.Equal(c.Soft, cs.in_softirq(), $"in_softirq() {at}: pc & SOFTIRQ_MASK (BH disabled or serving)");
                ctx.Equal(c.Serving, cs.in_serving_softirq(), $"in_serving_softirq() {at}: pc & SOFTIRQ_OFFSET");
                ctx.Equal(c.Nmi, cs.in_nmi(), $"in_nmi() {at}: pc & NMI_MASK");
                ctx.Equal(c.Task, cs.in_task(), $"in_task() {at}: !(pc & (NMI_MASK|HARDIRQ_MASK|SOFTIRQ_OFFSET))");
                ctx.Equal(c.Atomic, cs.in_atomic(), $"in_atomic() {at}: pc != 0");
            }
        }
        finally
        {
            Arch.raw_preempt_count() = 0;
            Arch.arch_local_irq_enable();
        }
    }

    [ConformanceTest("preempt_count in include/asm-generic/preempt.h: PREEMPT_NEED_RESCHED (0x80000000) is not part of preempt_count()")]
    public void preempt_count_hides_need_resched(ConformanceContext ctx)
    {
        var cs = ctx.Subject<ICpuState>();
        Arch.arch_local_irq_disable();
        Arch.raw_preempt_count() = PREEMPT_NEED_RESCHED | 0x1;
        int pc = cs.preempt_count();
        Arch.raw_preempt_count() = 0;
        Arch.arch_local_irq_enable();
        ctx.Equal(1, pc, "preempt_count() masks PREEMPT_NEED_RESCHED off");
    }

    [ConformanceTest("preempt_count_sub in kernel/sched/core.c: preempt_enable() without preempt_disable() must not drive the count negative")]
    public void preempt_enable_at_zero_does_not_underflow(ConformanceContext ctx)
    {
        var cs = ctx.Subject<ICpuState>();
        ctx.AllowReports(ReportKind.Warning, ReportKind.PreemptCountLeak, ReportKind.ContractViolation);
        cs.preempt_enable();
        ctx.Check(Raw >= 0, "the preempt count never goes negative (DEBUG_LOCKS_WARN_ON(val > preempt_count()))", ">= 0", $"0x{Raw:x8}");
        Arch.raw_preempt_count() = 0;
    }

    // ---------------------------------------------------------------- get_cpu / put_cpu / smp_processor_id

    [ConformanceTest("get_cpu/put_cpu in include/linux/smp.h: get_cpu is preempt_disable + smp_processor_id; put_cpu is preempt_enable; they nest")]
    public void get_cpu_and_put_cpu(ConformanceContext ctx)
    {
        var cs = ctx.Subject<ICpuState>();
        int id = cs.get_cpu();
        ctx.Equal(Arch.raw_smp_processor_id(), id, "get_cpu() returns this CPU's id");
        ctx.Equal(1, Raw, "get_cpu() disables preemption: count 1");
        int id2 = cs.get_cpu();
        ctx.Equal(id, id2, "a nested get_cpu() returns the same CPU");
        ctx.Equal(2, Raw, "get_cpu() nests: count 2");
        ctx.Equal(id, cs.smp_processor_id(), "smp_processor_id() with preemption disabled is this CPU");
        cs.put_cpu();
        ctx.Equal(1, Raw, "put_cpu() decrements the count");
        cs.put_cpu();
        ctx.Equal(0, Raw, "the outer put_cpu() brings the count back to 0");
    }

    [ConformanceTest("check_preemption_disabled in lib/smp_processor_id.c: smp_processor_id() in preemptible code is a BUG report")]
    public void smp_processor_id_in_preemptible_code_is_reported(ConformanceContext ctx)
    {
        var cs = ctx.Subject<ICpuState>();
        int id = cs.smp_processor_id();
        ctx.ExpectReport(ReportKind.SmpProcessorIdPreemptible, "smp_processor_id() with preemption enabled reports \"BUG: using smp_processor_id() in preemptible\"",
            "using smp_processor_id() in preemptible");
        ctx.Equal(Arch.raw_smp_processor_id(), id, "smp_processor_id() still returns this CPU");
        cs.preempt_disable();
        int before = ctx.CountReports(ReportKind.SmpProcessorIdPreemptible);
        cs.smp_processor_id();
        ctx.Equal(before, ctx.CountReports(ReportKind.SmpProcessorIdPreemptible), "no report with preemption disabled");
        cs.preempt_enable();
    }

    // ---------------------------------------------------------------- per-CPU variables

    [ConformanceTest("DEFINE_PER_CPU/per_cpu in include/linux/percpu-defs.h: every CPU's copy starts from the initializer; a write to one is not seen in another")]
    public void per_cpu_copies_are_separate(ConformanceContext ctx)
    {
        var cs = ctx.Subject<ICpuState>();
        int n = Arch.nr_cpu_ids;
        for (int c = 0; c < n; c++)
            ctx.Equal(7L, cs.per_cpu(Counter, c), $"per_cpu(v, {c}) starts at the static initializer");
        cs.per_cpu(Counter, 0) = 100;
        cs.per_cpu(Counter, 1) += 5;
        ctx.Equal(100L, cs.per_cpu(Counter, 0), "per_cpu(v, 0) keeps what was written");
        ctx.Equal(12L, cs.per_cpu(Counter, 1), "per_cpu(v, 1) is a separate copy");
        for (int c = 2; c < n; c++)
            ctx.Equal(7L, cs.per_cpu(Counter, c), $"per_cpu(v, {c}) is untouched by writes to other CPUs");
        ctx.Equal(100L, Arch.raw_cpu_ptr(Counter, 0), "per_cpu(v, cpu) is the machine's copy of that CPU");
    }

    [ConformanceTest("get_cpu_var/put_cpu_var in include/linux/percpu-defs.h: this CPU's copy, by reference, with preemption disabled in between")]
    public void get_cpu_var_and_put_cpu_var(ConformanceContext ctx)
    {
        var cs = ctx.Subject<ICpuState>();
        ref long v = ref cs.get_cpu_var(Counter);
        int cpu = Arch.raw_smp_processor_id();
        ctx.Equal(1, Raw, "get_cpu_var() disables preemption");
        v += 10;
        ctx.Equal(17L, Arch.raw_cpu_ptr(Counter, cpu), "get_cpu_var() returns a reference to this CPU's copy");
        cs.put_cpu_var(Counter);
        ctx.Equal(0, Raw, "put_cpu_var() enables preemption again");
        for (int c = 0; c < Arch.nr_cpu_ids; c++)
        {
            if (c != cpu)
                ctx.Equal(7L, Arch.raw_cpu_ptr(Counter, c), $"CPU {c}'s copy is untouched");
        }
    }

    [ConformanceTest("this_cpu_read/write/add/inc/dec and this_cpu_ptr in include/linux/percpu-defs.h: operate on this CPU's copy only")]
    public void this_cpu_operations_touch_only_this_cpus_copy(ConformanceContext ctx)
    {
        var cs = ctx.Subject<ICpuState>();
        cs.preempt_disable();
        int cpu = Arch.raw_smp_processor_id();
        cs.this_cpu_write(Counter, 40L);
        cs.this_cpu_add(Counter, 5L);
        cs.this_cpu_inc(Counter);
        cs.this_cpu_inc(Counter);
        cs.this_cpu_dec(Counter);
        ctx.Equal(46L, cs.this_cpu_read(Counter), "this_cpu_write 40, add 5, inc, inc, dec gives 46");
        ctx.Equal(46L, Arch.raw_cpu_ptr(Counter, cpu), "the operations changed this CPU's copy");
        ref long p = ref cs.this_cpu_ptr(Counter);
        p = 50;
        ctx.Equal(50L, cs.per_cpu(Counter, cpu), "this_cpu_ptr(v) == per_cpu_ptr(v, smp_processor_id())");
        for (int c = 0; c < Arch.nr_cpu_ids; c++)
        {
            if (c != cpu)
                ctx.Equal(7L, cs.per_cpu(Counter, c), $"CPU {c}'s copy is untouched");
        }
        ctx.Equal(1, Raw, "this_cpu_* operations leave the preempt count as it was");
        cs.preempt_enable();
    }

    // ---------------------------------------------------------------- softirqs on exit

    [ConformanceTest("local_bh_enable in kernel/softirq.c: re-enabling bottom halves runs the softirqs raised meanwhile")]
    public void local_bh_enable_runs_pending_softirqs(ConformanceContext ctx)
    {
        var cs = ctx.Subject<ICpuState>();
        var t = new tasklet_struct();
        int ran = 0;
        bool serving = false;
        tasklet_setup(t, _ => { ran++; serving = in_serving_softirq(); });
        cs.local_bh_disable();
        tasklet_schedule(t);
        cpu_relax();
        cpu_relax();
        ctx.Equal(0, ran, "no softirq runs while bottom halves are disabled");
        cs.local_bh_enable();
        ctx.Equal(1, ran, "local_bh_enable() reaching 0 runs the pending tasklet at once");
        ctx.Check(serving, "the tasklet ran serving a softirq");
    }

    [ConformanceTest("irq_exit in kernel/softirq.c: leaving the outermost hard-IRQ level runs pending softirqs; a nested level does not")]
    public void irq_exit_runs_softirqs_only_at_the_outermost_level(ConformanceContext ctx)
    {
        var cs = ctx.Subject<ICpuState>();
        var t = new tasklet_struct();
        int ran = 0;
        tasklet_setup(t, _ => ran++);
        Arch.arch_local_irq_disable();
        cs.irq_enter();
        cs.irq_enter();
        tasklet_schedule(t);
        cs.irq_exit();
        ctx.Equal(0, ran, "irq_exit() of a nested level does not run softirqs");
        ctx.Equal(0x10000, Raw, "one hard-IRQ level left");
        cs.irq_exit();
        ctx.Equal(1, ran, "irq_exit() of the outermost level runs the pending tasklet");
        ctx.Equal(0, Raw, "the count is back to 0");
        Arch.arch_local_irq_enable();
    }

    // ---------------------------------------------------------------- concurrency

    [ConformanceTest("local_irq_disable/save in include/linux/irqflags.h: interrupts are delivered to a CPU only while it has them enabled", Group = "concurrency")]
    public void interrupts_arrive_only_when_enabled(ConformanceContext ctx)
    {
        var cs = ctx.Subject<ICpuState>();
        const uint line = 6;
        int calls = 0;
        ctx.Equal(0, request_irq(line, (q, d) => { calls++; return IRQ_HANDLED; }, 0, "probe", null), "test setup: request_irq");
        cs.local_irq_disable();
        ctx.Machine.RaiseIrq(line);
        for (int i = 0; i < 5; i++)
            cpu_relax();
        ctx.Equal(0, calls, "no interrupt is delivered while local_irq_disable() is in effect");
        cs.local_irq_enable();
        cpu_relax();
        ctx.Equal(1, calls, "after local_irq_enable() the pending interrupt arrives at the next kernel call");
        cs.local_irq_save(out ulong flags);
        ctx.Machine.RaiseIrq(line);
        for (int i = 0; i < 5; i++)
            cpu_relax();
        ctx.Equal(1, calls, "no interrupt is delivered inside local_irq_save()");
        cs.local_irq_restore(flags);
        cpu_relax();
        ctx.Equal(2, calls, "after local_irq_restore() the pending interrupt arrives");
        free_irq(line, null);
    }

    [ConformanceTest("irq_enter in kernel/softirq.c: the machine's interrupt entry goes through irq_enter/irq_exit: handlers see 0x10000, tasks 0 again", Group = "concurrency")]
    public void interrupt_entry_uses_irq_enter_and_irq_exit(ConformanceContext ctx)
    {
        var cs = ctx.Subject<ICpuState>();
        const uint line = 7;
        int pc = -1;
        bool hard = false;
        ctx.Equal(0, request_irq(line, (q, d) => { pc = cs.preempt_count(); hard = cs.in_hardirq(); return IRQ_HANDLED; }, 0, "entry", null), "test setup: request_irq");
        ctx.Machine.RaiseIrq(line);
        cpu_relax();
        ctx.Equal(0x10000, pc, "a handler interrupting task code sees preempt_count() 0x10000");
        ctx.Check(hard, "in_hardirq() in the handler");
        ctx.Equal(0, Raw, "after the interrupt the task's count is 0 again");
        ctx.Check(!RawOff, "after the interrupt the task's interrupts are enabled again");
        free_irq(line, null);
    }

    [ConformanceTest("get_cpu/put_cpu in include/linux/smp.h: between them the task is never preempted or migrated, whatever the other CPUs do", Group = "concurrency", Seed = 3)]
    public void no_migration_between_get_cpu_and_put_cpu(ConformanceContext ctx)
    {
        var cs = ctx.Subject<ICpuState>();
        var errors = new List<string>();
        int finished = 0;
        const int Workers = 5;
        for (int w = 0; w < Workers; w++)
        {
            int id = w;
            kthread_run(_ =>
            {
                for (int i = 0; i < 150; i++)
                {
                    int cpu = cs.get_cpu();
                    ref long v = ref cs.per_cpu(Counter, cpu);
                    long before = v;
                    for (int k = 0; k < 4; k++)
                    {
                        cpu_relax(); // interleaving points: other CPUs run, preemption is tried
                        if (Arch.raw_smp_processor_id() != cpu)
                            errors.Add($"worker {id} moved from CPU {cpu} to CPU {Arch.raw_smp_processor_id()} between get_cpu() and put_cpu()");
                    }
                    v = before + 1;
                    if (Raw != 1)
                        errors.Add($"worker {id}: preempt count 0x{Raw:x} between get_cpu() and put_cpu(), expected 1");
                    cs.put_cpu();
                    if (Raw != 0)
                        errors.Add($"worker {id}: preempt count 0x{Raw:x} after put_cpu(), expected 0");
                    cond_resched();
                }
                finished++;
                return 0;
            }, null, $"pcpu{id}");
        }
        int guard = 0;
        while (finished < Workers && guard++ < 10_000)
            msleep(5);
        ctx.Equal(Workers, finished, "test setup: every worker finished");
        ctx.Check(errors.Count == 0, "get_cpu() pins the task to its CPU until put_cpu()", "no migration", string.Join(" | ", errors.Distinct().Take(4)));
        long sum = 0;
        for (int c = 0; c < Arch.nr_cpu_ids; c++)
            sum += cs.per_cpu(Counter, c) - 7;
        ctx.Equal((long)Workers * 150, sum, "every per-CPU increment made between get_cpu() and put_cpu() is kept (no lost update)");
    }

    // ---------------------------------------------------------------- property

    [ConformanceTest("include/linux/irqflags.h and preempt.h against a shadow model: random saves, restores, disables and preempt operations", Group = "property", Seed = 5)]
    public void random_flag_and_count_operations_match_a_model(ConformanceContext ctx)
    {
        var cs = ctx.Subject<ICpuState>();
        var saved = new Stack<(ulong Flags, bool Enabled)>();
        bool enabled = true;
        int pc = 0;
        int disables = 0;
        for (int step = 0; step < 2000; step++)
        {
            int op = ctx.Next(8);
            string what;
            switch (op)
            {
                case 0:
                case 1:
                    cs.local_irq_save(out ulong f);
                    saved.Push((f, enabled));
                    enabled = false;
                    what = "local_irq_save";
                    break;
                case 2:
                case 3:
                    if (saved.Count == 0)
                        continue;
                    var (flags, was) = saved.Pop();
                    if (enabled && !was)
                        continue; // a crossed restore warns; the model avoids it
                    cs.local_irq_restore(flags);
                    enabled = was;
                    what = $"local_irq_restore(saved when {(was ? "enabled" : "disabled")})";
                    break;
                case 4:
                    cs.preempt_disable();
                    pc++;
                    disables++;
                    what = "preempt_disable";
                    break;
                case 5:
                    if (disables == 0)
                        continue;
                    cs.preempt_enable();
                    pc--;
                    disables--;
                    what = "preempt_enable";
                    break;
                case 6:
                    cs.get_cpu();
                    pc++;
                    disables++;
                    what = "get_cpu";
                    break;
                default:
                    if (disables == 0)
                        continue;
                    cs.put_cpu();
                    pc--;
                    disables--;
                    what = "put_cpu";
                    break;
            }
            ctx.Step($"step {step}: {what}");
            if (RawOff == enabled || Raw != pc || cs.preempt_count() != pc || cs.irqs_disabled() == enabled)
                throw ctx.Fail($"after step {step} ({what}) the CPU state differs from Linux's",
                    $"irqs {(enabled ? "on" : "off")}, preempt_count {pc}", $"irqs {(RawOff ? "off" : "on")}, preempt_count {Raw} (preempt_count() {cs.preempt_count()})");
        }
        while (disables-- > 0)
            cs.preempt_enable();
        while (saved.Count > 0)
            cs.local_irq_restore(saved.Pop().Flags);
    }
}
