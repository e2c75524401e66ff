using System.Collections.Generic;
using System.Linq;
using KernelHarness.Runtime;
using KernelHarness.Subsystems;
using static KernelHarness.Conformance.Irq.IrqKit;
using static KernelHarness.Kernel;

namespace KernelHarness.Conformance.Irq;

/// <summary>
/// The irq subsystem: request/free and sharing (kernel/irq/manage.c), dispatch (kernel/irq/handle.c),
/// spurious detection (kernel/irq/spurious.c), disable depth (kernel/irq/irq_test.c), threaded and
/// ONESHOT handlers, synchronize_irq. Directed tests use exact values from Linux's code and KUnit tests.
/// </summary>
[ConformanceSuite("irq")]
public sealed class IrqSuite
{
    private const uint L = 5;
    private const uint L2 = 9;

    private static irqreturn_t Noop(int irq, object? dev_id) => IRQ_HANDLED;

    // ---------------------------------------------------------------- depth (irq_test.c)

    [ConformanceTest("irq_disable_depth_test in kernel/irq/irq_test.c: request_irq gives depth 0, disable_irq 1, enable_irq 0")]
    public void request_disable_enable_depth_values(ConformanceContext ctx)
    {
        var irq = ctx.Subject<IIrq>();
        ctx.Step($"request_irq({L}, noop_handler, 0, \"test_irq\", NULL)");
        ctx.Equal(0, irq.request_irq(L, Noop, 0, "test_irq", null), "request_irq() of a free line returns 0");
        var desc = Desc(ctx, irq, L);
        ctx.Equal(0, desc.depth, "the first action starts the line: irq_startup() sets depth to 0");
        ctx.Step("disable_irq");
        irq.disable_irq(L);
        ctx.Equal(1, desc.depth, "disable_irq() adds one to depth");
        ctx.Step("enable_irq");
        irq.enable_irq(L);
        ctx.Equal(0, desc.depth, "enable_irq() at depth 1 brings depth back to 0");
        ctx.Step("free_irq");
        ctx.Equal("test_irq", irq.free_irq(L, null), "free_irq() returns the devname of the freed action");
        ctx.Check(desc.action is null, "free_irq() of the only action leaves the line without actions");
    }

    [ConformanceTest("irq_free_disabled_test in kernel/irq/irq_test.c: free_irq does not re-enable; a new request_irq starts at depth 0")]
    public void free_of_a_disabled_line_keeps_its_depth(ConformanceContext ctx)
    {
        var irq = ctx.Subject<IIrq>();
        ctx.Equal(0, irq.request_irq(L, Noop, 0, "test_irq", null), "request_irq() of a free line returns 0");
        var desc = Desc(ctx, irq, L);
        irq.disable_irq(L);
        ctx.Equal(1, desc.depth, "disable_irq() adds one to depth");
        irq.free_irq(L, null);
        ctx.Check(desc.depth >= 1, "free_irq() leaves depth as it was (it does not re-enable the line)", ">= 1", desc.depth.ToString());
        ctx.Equal(0, irq.request_irq(L, Noop, 0, "test_irq", null), "request_irq() after free returns 0");
        ctx.Equal(0, desc.depth, "the new first action's irq_startup() resets depth to 0");
        irq.free_irq(L, null);
    }

    [ConformanceTest("__disable_irq/__enable_irq in kernel/irq/manage.c: disables nest by depth; the line is masked while depth > 0")]
    public void disable_nests_and_masks_until_the_last_enable(ConformanceContext ctx)
    {
        var irq = ctx.Subject<IIrq>();
        var c = new Counter();
        ctx.Equal(0, irq.request_irq(L, c.Handle, 0, "nest", null), "request_irq() of a free line returns 0");
        var desc = Desc(ctx, irq, L);
        ctx.Check(!Arch.irq_chip_masked(L), "a started line is unmasked at the controller");
        for (int i = 1; i <= 3; i++)
        {
            irq.disable_irq(L);
            ctx.Equal(i, desc.depth, $"disable_irq() #{i}: depth");
            ctx.Check(Arch.irq_chip_masked(L), "a disabled line is masked at the controller (irq_disable on the first disable)");
        }
        for (int i = 2; i >= 0; i--)
        {
            irq.enable_irq(L);
            ctx.Equal(i, desc.depth, $"enable_irq() down to depth {i}");
            ctx.Equal(i > 0, Arch.irq_chip_masked(L), $"at depth {i} the line is {(i > 0 ? "still masked: only the last enable_irq unmasks" : "unmasked again")}");
        }
        RaiseAndDeliver(ctx, L);
        ctx.Equal(1, c.Calls, "after the last enable_irq() an interrupt reaches the handler");
        irq.free_irq(L, null);
    }

    [ConformanceTest("__enable_irq in kernel/irq/manage.c: enable at depth 0 warns \"Unbalanced enable for IRQ %d\" and changes nothing")]
    public void unbalanced_enable_warns_and_keeps_depth_zero(ConformanceContext ctx)
    {
        var irq = ctx.Subject<IIrq>();
        ctx.Equal(0, irq.request_irq(L, Noop, 0, "unbal", null), "request_irq() of a free line returns 0");
        var desc = Desc(ctx, irq, L);
        int mark = LogMark(ctx);
        irq.enable_irq(L);
        ExpectWarning(ctx, mark, $"Unbalanced enable for IRQ {L}", "enable_irq() at depth 0 warns \"Unbalanced enable for IRQ N\"");
        ctx.Equal(0, desc.depth, "an unbalanced enable_irq() leaves depth at 0 (it must not go negative)");
        irq.disable_irq(L);
        ctx.Equal(1, desc.depth, "after an unbalanced enable, one disable_irq() gives depth 1");
        irq.enable_irq(L);
        irq.free_irq(L, null);
    }

    [ConformanceTest("__enable_irq / check_irq_resend in kernel/irq/manage.c: an interrupt that arrives while disabled runs after the final enable")]
    public void interrupt_while_disabled_is_replayed_on_enable(ConformanceContext ctx)
    {
        var irq = ctx.Subject<IIrq>();
        var c = new Counter();
        ctx.Equal(0, irq.request_irq(L, c.Handle, 0, "replay", null), "request_irq() of a free line returns 0");
        irq.disable_irq(L);
        ctx.Machine.RaiseIrq(L);
        for (int i = 0; i < 5; i++)
            cpu_relax();
        ctx.Equal(0, c.Calls, "no handler runs while the line is disabled");
        irq.enable_irq(L);
        cpu_relax();
        cpu_relax();
        ctx.Equal(1, c.Calls, "the interrupt that arrived while disabled is delivered once after enable_irq()");
        irq.free_irq(L, null);
    }

    // ---------------------------------------------------------------- request arguments and sharing

    [ConformanceTest("request_threaded_irq in kernel/irq/manage.c: IRQF_SHARED with dev_id NULL is -EINVAL (shared interrupts must pass in a real dev-ID)")]
    public void shared_request_without_dev_id_is_einval(ConformanceContext ctx)
    {
        var irq = ctx.Subject<IIrq>();
        ctx.Equal(-EINVAL, irq.request_irq(L, Noop, IRQF_SHARED, "nodev", null), "IRQF_SHARED with a NULL dev_id");
        ctx.Check(Chain(irq, L).Count == 0, "a refused request adds no action", "[]", Show(Chain(irq, L)));
        ctx.Equal(0, irq.request_irq(L, Noop, IRQF_SHARED, "dev", new object()), "IRQF_SHARED with a real dev_id");
        ctx.Equal(-EINVAL, irq.request_irq(L, Noop, IRQF_SHARED, "nodev2", null), "a second sharer with a NULL dev_id");
        ctx.Equal("[dev]", Show(Chain(irq, L)), "the refused sharer is not on the chain");
    }

    [ConformanceTest("request_threaded_irq in kernel/irq/manage.c: no handler and no thread_fn, a line that does not exist, IRQF_SHARED|IRQF_NO_AUTOEN: -EINVAL")]
    public void invalid_requests_are_einval(ConformanceContext ctx)
    {
        var irq = ctx.Subject<IIrq>();
        ctx.Equal(-EINVAL, irq.request_threaded_irq(L, null, null, 0, "none", null), "handler == NULL && thread_fn == NULL");
        ctx.Equal(-EINVAL, irq.request_irq((uint)Arch.nr_irqs, Noop, 0, "nodesc", null), "a line with no descriptor (irq >= nr_irqs)");
        ctx.Equal(-EINVAL, irq.request_irq(L, Noop, IRQF_SHARED | IRQF_NO_AUTOEN, "noauto", new object()), "IRQF_SHARED together with IRQF_NO_AUTOEN");
        ctx.Equal(-EINVAL, irq.request_threaded_irq(L, null, Noop, 0, "thr", new object()),
            "a NULL primary handler without IRQF_ONESHOT (\"Threaded irq requested with handler=NULL and !ONESHOT\")");
        ctx.Check(Chain(irq, L).Count == 0, "refused requests add no action", "[]", Show(Chain(irq, L)));
    }

    [ConformanceTest("__setup_irq in kernel/irq/manage.c: a line with an action accepts another only if both pass IRQF_SHARED, else -EBUSY")]
    public void sharing_needs_irqf_shared_from_every_sharer(ConformanceContext ctx)
    {
        var irq = ctx.Subject<IIrq>();
        object a = new(), b = new();
        ctx.Equal(0, irq.request_irq(L, Noop, 0, "excl", a), "the first, exclusive request");
        ctx.Equal(-EBUSY, irq.request_irq(L, Noop, IRQF_SHARED, "shr", b), "a shared request on a line held exclusively");
        ctx.Equal(-EBUSY, irq.request_irq(L, Noop, 0, "excl2", b), "a second exclusive request");
        ctx.Equal("[excl]", Show(Chain(irq, L)), "refused requests leave the chain as it was");
        irq.free_irq(L, a);
        ctx.Equal(0, irq.request_irq(L2, Noop, IRQF_SHARED, "shr1", a), "the first, shared request");
        ctx.Equal(-EBUSY, irq.request_irq(L2, Noop, 0, "excl", b), "an exclusive request on a shared line");
        ctx.Equal(0, irq.request_irq(L2, Noop, IRQF_SHARED, "shr2", b), "a second shared request");
        ctx.Equal("[shr1, shr2]", Show(Chain(irq, L2)), "sharers are appended at the tail of the chain");
    }

    [ConformanceTest("__setup_irq in kernel/irq/manage.c: sharers must agree on the trigger type and on IRQF_ONESHOT, else -EBUSY")]
    public void sharers_must_match_trigger_and_oneshot(ConformanceContext ctx)
    {
        var irq = ctx.Subject<IIrq>();
        object a = new(), b = new(), c = new(), d = new();
        ctx.Equal(0, irq.request_irq(L, Noop, IRQF_SHARED | IRQF_TRIGGER_RISING, "rise", a), "the first sharer, rising edge");
        ctx.Equal(-EBUSY, irq.request_irq(L, Noop, IRQF_SHARED | IRQF_TRIGGER_FALLING, "fall", b), "a sharer with another trigger type");
        ctx.Equal(-EBUSY, irq.request_irq(L, Noop, IRQF_SHARED | IRQF_TRIGGER_RISING | IRQF_ONESHOT, "one", c), "a sharer that differs in IRQF_ONESHOT");
        ctx.Equal(0, irq.request_irq(L, Noop, IRQF_SHARED | IRQF_TRIGGER_RISING, "rise2", d), "a sharer with the same trigger type");
        ctx.Equal("[rise, rise2]", Show(Chain(irq, L)), "only the matching sharer joined");
    }

    // ---------------------------------------------------------------- free_irq

    [ConformanceTest("__free_irq in kernel/irq/manage.c: free_irq removes only the action whose dev_id matches")]
    public void free_irq_removes_the_action_with_the_matching_dev_id(ConformanceContext ctx)
    {
        var irq = ctx.Subject<IIrq>();
        object a = new(), b = new(), c = new();
        var calls = new List<string>();
        irq_handler_t H(string n) => (i, dev) => { calls.Add(n); return IRQ_HANDLED; };
        ctx.Equal(0, irq.request_irq(L, H("a"), IRQF_SHARED, "a", a), "request a");
        ctx.Equal(0, irq.request_irq(L, H("b"), IRQF_SHARED, "b", b), "request b");
        ctx.Equal(0, irq.request_irq(L, H("c"), IRQF_SHARED, "c", c), "request c");
        ctx.Step("free_irq(L, b)");
        ctx.Equal("b", irq.free_irq(L, b), "free_irq() returns the devname of the action whose dev_id matched");
        ctx.Equal("[a, c]", Show(Chain(irq, L)), "free_irq(irq, dev_b) removes b's action, not the first one");
        Fire(irq, L);
        ctx.Equal("a,c", string.Join(",", calls), "after freeing b, an interrupt runs a and c");
        ctx.Equal("c", irq.free_irq(L, c), "free the tail");
        ctx.Equal("[a]", Show(Chain(irq, L)), "free_irq(irq, dev_c) removes the tail");
        ctx.Equal("a", irq.free_irq(L, a), "free the last");
        ctx.Equal("[]", Show(Chain(irq, L)), "the chain is empty");
    }

    [ConformanceTest("__free_irq in kernel/irq/manage.c: no match warns \"Trying to free already-free IRQ %d\", returns NULL, chain untouched")]
    public void free_irq_of_an_unknown_dev_id_warns(ConformanceContext ctx)
    {
        var irq = ctx.Subject<IIrq>();
        object a = new(), b = new(), stranger = new();
        ctx.Equal(0, irq.request_irq(L, Noop, IRQF_SHARED, "a", a), "request a");
        ctx.Equal(0, irq.request_irq(L, Noop, IRQF_SHARED, "b", b), "request b");
        int mark = LogMark(ctx);
        var r = irq.free_irq(L, stranger);
        ExpectWarning(ctx, mark, $"Trying to free already-free IRQ {L}", "free_irq() with a dev_id no action has warns");
        ctx.Equal(null, r, "free_irq() with no matching action returns NULL");
        ctx.Equal("[a, b]", Show(Chain(irq, L)), "free_irq() with no matching action leaves the chain untouched");
        mark = LogMark(ctx);
        irq.free_irq(L2, a);
        ExpectWarning(ctx, mark, $"Trying to free already-free IRQ {L2}", "free_irq() of a line with no action warns");
    }

    [ConformanceTest("irq_shutdown in kernel/irq/chip.c: after the last action is freed, interrupts on the line no longer call it")]
    public void freed_handler_is_never_called_again(ConformanceContext ctx)
    {
        var irq = ctx.Subject<IIrq>();
        var c = new Counter();
        ctx.Equal(0, irq.request_irq(L, c.Handle, 0, "gone", null), "request");
        RaiseAndDeliver(ctx, L);
        ctx.Equal(1, c.Calls, "a raised line runs its handler");
        irq.free_irq(L, null);
        RaiseAndDeliver(ctx, L);
        cpu_relax();
        ctx.Equal(1, c.Calls, "a freed handler must never run again");
    }

    // ---------------------------------------------------------------- dispatch

    [ConformanceTest("__handle_irq_event_percpu in kernel/irq/handle.c: every action runs, in registration order, even after one returns IRQ_HANDLED")]
    public void every_action_of_a_shared_line_runs_in_order(ConformanceContext ctx)
    {
        var irq = ctx.Subject<IIrq>();
        var calls = new List<string>();
        var names = new[] { "a", "b", "c", "d" };
        var results = new[] { IRQ_HANDLED, IRQ_NONE, IRQ_HANDLED, IRQ_NONE };
        for (int i = 0; i < names.Length; i++)
        {
            string n = names[i];
            var res = results[i];
            ctx.Equal(0, irq.request_irq(L, (q, dev) => { calls.Add(n + ":" + q + ":" + (dev as string)); return res; }, IRQF_SHARED, n, n), $"request {n}");
        }
        for (int k = 0; k < 3; k++)
        {
            calls.Clear();
            Fire(irq, L);
            ctx.Equal($"a:{L}:a,b:{L}:b,c:{L}:c,d:{L}:d", string.Join(",", calls),
                "each interrupt calls every action once, in order, with the line number and its own dev_id");
        }
    }

    [ConformanceTest("common_interrupt / handle_irq_event in kernel/irq/: a raised line runs its handler in hard-IRQ context with interrupts disabled")]
    public void a_delivered_interrupt_runs_the_handler_in_hardirq_context(ConformanceContext ctx)
    {
        var irq = ctx.Subject<IIrq>();
        int calls = 0;
        bool hard = false, off = false;
        int pc = -1;
        ctx.Equal(0, irq.request_irq(L, (q, dev) =>
        {
            calls++;
            hard = in_hardirq();
            off = irqs_disabled();
            pc = preempt_count();
            return IRQ_HANDLED;
        }, 0, "ctx", null), "request");
        RaiseAndDeliver(ctx, L);
        ctx.Equal(1, calls, "one raise, one call");
        ctx.Check(hard, "the handler runs in hard-IRQ context (in_hardirq())");
        ctx.Check(off, "the handler runs with interrupts disabled");
        ctx.Equal(HARDIRQ_OFFSET, pc, "preempt_count() in a handler interrupting preemptible task code is HARDIRQ_OFFSET (0x10000)");
    }

    // ---------------------------------------------------------------- spurious detection

    [ConformanceTest("note_interrupt in kernel/irq/spurious.c: 100,000 interrupts nobody handled disable the line (\"irq N: nobody cared\")")]
    public void a_stuck_line_is_disabled_after_100000_unhandled(ConformanceContext ctx)
    {
        var irq = ctx.Subject<IIrq>();
        var c = new Counter { Result = IRQ_NONE };
        ctx.Equal(0, irq.request_irq(L, c.Handle, IRQF_SHARED, "stuck", c), "request");
        var desc = Desc(ctx, irq, L);
        int mark = LogMark(ctx);
        for (int i = 1; i < 100_000; i++)
            Fire(irq, L);
        ctx.Equal(0, desc.depth, "after 99,999 unhandled interrupts the line is still enabled (the window is 100,000)");
        Fire(irq, L);
        ctx.Equal(100_000, c.Calls, "every interrupt ran the handler");
        ExpectWarning(ctx, mark, $"irq {L}: nobody cared", "the 100,000th interrupt with > 99,900 unhandled reports \"irq N: nobody cared\"");
        ctx.Check(LoggedSince(ctx, mark, "stuck"), "the report lists the line's handlers (the devname \"stuck\")");
        ctx.Equal(1, desc.depth, "the spurious line is disabled: depth++");
        ctx.Check((desc.istate & IRQS_SPURIOUS_DISABLED) != 0, "IRQS_SPURIOUS_DISABLED is set");
        ctx.Check(Arch.irq_chip_masked(L), "the spurious line is masked at the controller");
        Fire(irq, L);
        ctx.Equal(100_000, c.Calls, "a disabled line calls no handler");
        object other = new();
        ctx.Equal(0, irq.request_irq(L, Noop, IRQF_SHARED, "newcomer", other), "a new sharer on a spurious-disabled line");
        ctx.Equal(0, desc.depth, "a new shared action re-enables a line disabled as spurious (__setup_irq)");
    }

    [ConformanceTest("note_interrupt in kernel/irq/spurious.c: the test is strictly irqs_unhandled > 99900: 99,900 does not disable, 99,901 does")]
    public void the_spurious_threshold_is_strictly_above_99900(ConformanceContext ctx)
    {
        var irq = ctx.Subject<IIrq>();
        var c = new Counter();
        ctx.Equal(0, irq.request_irq(L, c.Handle, 0, "edge", null), "request");
        var desc = Desc(ctx, irq, L);
        // The window starts with an unhandled interrupt (irqs_unhandled == 0 returns early).
        c.Result = IRQ_NONE;
        Fire(irq, L);
        c.Result = IRQ_HANDLED;
        for (int i = 0; i < 100; i++)
            Fire(irq, L);
        c.Result = IRQ_NONE;
        for (int i = 0; i < 99_899; i++)
            Fire(irq, L);
        ctx.Equal(0, desc.depth, "99,900 unhandled of 100,000 do not disable the line (the test is > 99900)");
        ctx.Equal(0u, desc.irq_count, "irq_count restarts at 0 after a full window");
        ctx.Equal(0u, desc.irqs_unhandled, "irqs_unhandled restarts at 0 after a full window");

        Fire(irq, L);
        c.Result = IRQ_HANDLED;
        for (int i = 0; i < 99; i++)
            Fire(irq, L);
        c.Result = IRQ_NONE;
        int mark = LogMark(ctx);
        for (int i = 0; i < 99_900; i++)
            Fire(irq, L);
        ExpectWarning(ctx, mark, $"irq {L}: nobody cared", "99,901 unhandled of 100,000 disable the line");
        ctx.Equal(1, desc.depth, "99,901 unhandled of 100,000 disable the line");
    }

    [ConformanceTest("note_interrupt in kernel/irq/spurious.c: irqs_unhandled restarts at 1 when the last unhandled interrupt is more than HZ/10 old")]
    public void unhandled_interrupts_more_than_hz_over_10_apart_do_not_accumulate(ConformanceContext ctx)
    {
        var irq = ctx.Subject<IIrq>();
        var c = new Counter { Result = IRQ_NONE };
        ctx.Equal(0, irq.request_irq(L, c.Handle, 0, "slow", null), "request");
        var desc = Desc(ctx, irq, L);
        Fire(irq, L);
        Fire(irq, L);
        Fire(irq, L);
        ctx.Equal(3u, desc.irqs_unhandled, "unhandled interrupts close together accumulate");
        ctx.Equal(3u, desc.irq_count, "irq_count counts interrupts once irqs_unhandled is non-zero");
        ulong before = jiffies;
        msleep(300); // 30 jiffies > HZ/10
        ctx.Check(jiffies - before > HZ / 10, "test setup: more than HZ/10 jiffies passed");
        Fire(irq, L);
        ctx.Equal(1u, desc.irqs_unhandled, "an unhandled interrupt more than HZ/10 after the last one restarts irqs_unhandled at 1");
        ctx.Equal(jiffies, desc.last_unhandled, "last_unhandled is the jiffies of the last unhandled interrupt");
    }

    [ConformanceTest("note_interrupt in kernel/irq/spurious.c: irqs_unhandled is reset after every window, so unhandled interrupts of two windows never add up")]
    public void the_unhandled_counter_is_reset_after_each_window(ConformanceContext ctx)
    {
        var irq = ctx.Subject<IIrq>();
        var c = new Counter();
        ctx.Equal(0, irq.request_irq(L, c.Handle, 0, "half", null), "request");
        var desc = Desc(ctx, irq, L);
        for (int window = 0; window < 2; window++)
        {
            // 60,000 unhandled and 40,000 handled per window, the unhandled first.
            c.Result = IRQ_NONE;
            for (int i = 0; i < 60_000; i++)
                Fire(irq, L);
            c.Result = IRQ_HANDLED;
            for (int i = 0; i < 40_000; i++)
                Fire(irq, L);
            ctx.Equal(0, desc.depth, $"window {window + 1}: 60,000 unhandled of 100,000 never disable the line");
            ctx.Equal(0u, desc.irqs_unhandled, $"window {window + 1}: irqs_unhandled is reset to 0 when the 100,000-interrupt window closes");
            ctx.Equal(0u, desc.irq_count, $"window {window + 1}: irq_count is reset to 0 when the window closes");
        }
    }

    [ConformanceTest("note_interrupt in kernel/irq/spurious.c: a shared line where one handler always returns IRQ_NONE and another IRQ_HANDLED is never disabled")]
    public void a_shared_line_with_one_handling_device_is_never_disabled(ConformanceContext ctx)
    {
        var irq = ctx.Subject<IIrq>();
        var none = new Counter { Result = IRQ_NONE };
        var handled = new Counter { Result = IRQ_HANDLED };
        ctx.Equal(0, irq.request_irq(L, none.Handle, IRQF_SHARED, "quiet", none), "request quiet");
        ctx.Equal(0, irq.request_irq(L, handled.Handle, IRQF_SHARED, "busy", handled), "request busy");
        var desc = Desc(ctx, irq, L);
        for (int i = 0; i < 150_000; i++)
            Fire(irq, L);
        ctx.Equal(150_000, handled.Calls, "the second handler runs for every interrupt (the OR of the results is IRQ_HANDLED)");
        ctx.Equal(0, desc.depth, "the line stays enabled");
        ctx.Equal(0u, desc.irqs_unhandled, "no interrupt counts as unhandled");
    }

    [ConformanceTest("__setup_irq in kernel/irq/manage.c: installing a new handler resets irq_count and irqs_unhandled")]
    public void a_new_handler_resets_the_spurious_counters(ConformanceContext ctx)
    {
        var irq = ctx.Subject<IIrq>();
        var c = new Counter { Result = IRQ_NONE };
        ctx.Equal(0, irq.request_irq(L, c.Handle, IRQF_SHARED, "one", c), "request one");
        var desc = Desc(ctx, irq, L);
        for (int i = 0; i < 10; i++)
            Fire(irq, L);
        ctx.Equal(10u, desc.irqs_unhandled, "10 unhandled interrupts are counted");
        object d = new();
        ctx.Equal(0, irq.request_irq(L, Noop, IRQF_SHARED, "two", d), "request two");
        ctx.Equal(0u, desc.irqs_unhandled, "a new handler resets irqs_unhandled");
        ctx.Equal(0u, desc.irq_count, "a new handler resets irq_count");
    }

    // ---------------------------------------------------------------- threaded handlers and ONESHOT

    [ConformanceTest("irq_thread in kernel/irq/manage.c: thread_fn runs in process context in kernel thread \"irq/N-name\" after the primary returns IRQ_WAKE_THREAD")]
    public void a_threaded_handler_runs_in_its_kernel_thread_in_process_context(ConformanceContext ctx)
    {
        var irq = ctx.Subject<IIrq>();
        int primary = 0, threaded = 0;
        bool task = false, hard = true, off = true;
        int pc = -1;
        string comm = "";
        uint flags = 0;
        var caller = current;
        task_struct? thread = null;
        bool firing = false, ranInsideTheInterrupt = false;
        ctx.Equal(0, irq.request_threaded_irq(L, (q, d) => { primary++; return IRQ_WAKE_THREAD; }, (q, d) =>
        {
            threaded++;
            ranInsideTheInterrupt |= firing && ReferenceEquals(current, caller);
            task = in_task();
            hard = in_hardirq();
            off = irqs_disabled();
            pc = preempt_count();
            thread = current;
            comm = thread.comm;
            flags = thread.flags;
            msleep(1); // process context may sleep
            return IRQ_HANDLED;
        }, IRQF_ONESHOT, "thr", null), "request_threaded_irq");
        firing = true;
        Fire(irq, L);
        firing = false;
        ctx.Equal(1, primary, "the primary handler ran once");
        // The woken thread may already have run on another CPU while the interrupt was being handled
        // (its wake-up makes it runnable at once); it must never run inside the interrupt itself.
        ctx.Check(!ranInsideTheInterrupt, "thread_fn does not run in the hard-IRQ part (inside the interrupt, on the interrupted task)");
        irq.synchronize_irq(L);
        ctx.Equal(1, threaded, "after synchronize_irq() the woken thread_fn has run once");
        ctx.Check(task && !hard, "thread_fn runs in task context (in_task(), not in_hardirq())");
        ctx.Check(!off, "thread_fn runs with interrupts enabled");
        ctx.Equal(0, pc, "thread_fn runs with preempt_count() 0");
        ctx.Equal(Truncate($"irq/{L}-thr"), comm, "the handler thread is named \"irq/%d-%s\"");
        ctx.Check((flags & PF_KTHREAD) != 0, "the handler thread is a kernel thread (PF_KTHREAD)");
        ctx.Check(!ReferenceEquals(thread, caller), "thread_fn runs in its own thread, not in the task that was interrupted");
        irq.free_irq(L, null);
        ctx.Check(thread is not null && !ctx.Machine.Tasks.Contains(thread), "free_irq() stops the handler thread");
    }

    private static string Truncate(string comm) => comm.Length > TASK_COMM_LEN - 1 ? comm[..(TASK_COMM_LEN - 1)] : comm;

    [ConformanceTest("request_threaded_irq in kernel/irq/manage.c: handler == NULL with IRQF_ONESHOT uses irq_default_primary_handler, which wakes the thread")]
    public void a_null_primary_handler_wakes_the_thread(ConformanceContext ctx)
    {
        var irq = ctx.Subject<IIrq>();
        int threaded = 0;
        ctx.Equal(0, irq.request_threaded_irq(L, null, (q, d) => { threaded++; return IRQ_HANDLED; }, IRQF_ONESHOT, "def", null),
            "request_threaded_irq(irq, NULL, thread_fn, IRQF_ONESHOT, …)");
        Fire(irq, L);
        irq.synchronize_irq(L);
        ctx.Equal(1, threaded, "the default primary handler woke the thread once");
        irq.free_irq(L, null);
    }

    [ConformanceTest("irq_finalize_oneshot in kernel/irq/manage.c: an IRQF_ONESHOT line stays masked until the thread finishes, then is unmasked")]
    public void a_oneshot_line_stays_masked_until_the_thread_finishes(ConformanceContext ctx)
    {
        var irq = ctx.Subject<IIrq>();
        int primary = 0, threaded = 0;
        bool maskedInThread = false;
        ctx.Equal(0, irq.request_threaded_irq(L, (q, d) => { primary++; return IRQ_WAKE_THREAD; }, (q, d) =>
        {
            threaded++;
            maskedInThread = Arch.irq_chip_masked(L);
            msleep(20);
            return IRQ_HANDLED;
        }, IRQF_ONESHOT, "oneshot", null), "request_threaded_irq with IRQF_ONESHOT");
        Fire(irq, L);
        ctx.Check(Arch.irq_chip_masked(L), "after the hard-IRQ part of a ONESHOT interrupt the line is masked");
        ctx.Machine.RaiseIrq(L); // arrives while the thread has not run: must wait
        irq.synchronize_irq(L);
        ctx.Check(threaded >= 1, "the thread ran");
        ctx.Check(maskedInThread, "the line is still masked while the thread function runs");
        for (int i = 0; i < 3 && primary < 2; i++)
            cpu_relax();
        ctx.Equal(2, primary, "once the thread finished the line is unmasked and the interrupt that waited is delivered");
        irq.synchronize_irq(L);
        ctx.Equal(2, threaded, "the second interrupt woke the thread again");
        ctx.Check(!Arch.irq_chip_masked(L), "after the last thread run the line is unmasked");
        irq.disable_irq(L);
        Fire(irq, L);
        ctx.Equal(2, primary, "a disabled ONESHOT line calls no handler");
        irq.enable_irq(L);
        irq.free_irq(L, null);
    }

    [ConformanceTest("synchronize_irq in kernel/irq/manage.c: waits until no threaded handler of the line is active")]
    public void synchronize_irq_waits_for_the_threaded_handler(ConformanceContext ctx)
    {
        var irq = ctx.Subject<IIrq>();
        bool done = false;
        ctx.Equal(0, irq.request_threaded_irq(L, (q, d) => IRQ_WAKE_THREAD, (q, d) =>
        {
            msleep(50);
            done = true;
            return IRQ_HANDLED;
        }, IRQF_ONESHOT, "slow", null), "request_threaded_irq");
        Fire(irq, L);
        irq.synchronize_irq(L);
        ctx.Check(done, "synchronize_irq() returned while the threaded handler was still running");
        irq.free_irq(L, null);
    }

    [ConformanceTest("__free_irq in kernel/irq/manage.c: free_irq of a threaded action waits for its running thread_fn and stops the thread")]
    public void free_irq_waits_for_a_running_thread_fn(ConformanceContext ctx)
    {
        var irq = ctx.Subject<IIrq>();
        bool done = false;
        ctx.Equal(0, irq.request_threaded_irq(L, (q, d) => IRQ_WAKE_THREAD, (q, d) =>
        {
            msleep(50);
            done = true;
            return IRQ_HANDLED;
        }, IRQF_ONESHOT, "slowfree", null), "request_threaded_irq");
        Fire(irq, L);
        irq.free_irq(L, null);
        ctx.Check(done, "free_irq() returned while the action's thread_fn was still to run or running");
        ctx.Check(!ctx.Machine.Tasks.Any(t => t.comm.StartsWith($"irq/{L}-", System.StringComparison.Ordinal)), "free_irq() stopped the irq thread");
    }

    // ---------------------------------------------------------------- concurrency

    [ConformanceTest("synchronize_irq in kernel/irq/manage.c: waits until no hard-IRQ handler of the line runs on any other CPU", Group = "concurrency")]
    public void synchronize_irq_waits_for_a_handler_on_another_cpu(ConformanceContext ctx)
    {
        var irq = ctx.Subject<IIrq>();
        bool started = false, finished = false;
        int handlerCpu = -1;
        ctx.Equal(0, irq.request_irq(L, (q, d) =>
        {
            started = true;
            handlerCpu = Arch.raw_smp_processor_id();
            for (int i = 0; i < 300; i++)
                cpu_relax();
            finished = true;
            return IRQ_HANDLED;
        }, 0, "long", null), "request");
        var spinner = kthread_run(_ =>
        {
            while (!kthread_should_stop())
                cpu_relax();
            return 0;
        }, null, "spinner");
        local_irq_disable(); // the interrupt must go to the spinner's CPU
        ctx.Machine.RaiseIrq(L);
        int guard = 0;
        while (!started && guard++ < 100_000)
            cpu_relax();
        local_irq_enable();
        ctx.Check(started, "test setup: the interrupt was delivered to another CPU");
        ctx.Check(handlerCpu != Arch.raw_smp_processor_id(), "test setup: the handler runs on another CPU");
        irq.synchronize_irq(L);
        ctx.Check(finished, "synchronize_irq() returned while the handler was still running on another CPU");
        kthread_stop(spinner);
        irq.free_irq(L, null);
    }

    [ConformanceTest("kernel/irq/manage.c and handle.c under load: many devices, random raises, requests, frees and disables across CPUs", Group = "concurrency", Seed = 7)]
    public void seeded_stress_of_many_devices_across_cpus(ConformanceContext ctx)
    {
        var irq = ctx.Subject<IIrq>();
        const int Lines = 4;
        const int Devices = 8;
        var errors = new List<string>();
        var live = new bool[Devices];
        var calls = new int[Devices];
        var disabledSync = new int[Lines];
        var devs = Enumerable.Range(0, Devices).Select(i => (object)$"dev{i}").ToArray();
        uint LineOf(int dev) => (uint)(10 + dev % Lines);
        irq_handler_t Handler(int dev) => (q, d) =>
        {
            calls[dev]++;
            if (!live[dev])
                errors.Add($"dev{dev}'s handler ran after its free_irq() returned");
            if (!ReferenceEquals(d, devs[dev]))
                errors.Add($"dev{dev}'s handler got dev_id {d}");
            if (q != (int)LineOf(dev))
                errors.Add($"dev{dev}'s handler got irq {q}, not {LineOf(dev)}");
            if (!in_hardirq() || !irqs_disabled())
                errors.Add($"dev{dev}'s handler ran outside hard-IRQ context or with interrupts on");
            if (disabledSync[LineOf(dev) - 10] > 0)
                errors.Add($"dev{dev}'s handler ran on irq {LineOf(dev)} after disable_irq() returned and before enable_irq()");
            return (dev & 1) == 0 ? IRQ_HANDLED : IRQ_NONE;
        };
        // A permanent sharer keeps every line started, so disable depth is never reset by a new first action.
        var anchors = new object[Lines];
        for (uint line = 10; line < 10 + Lines; line++)
        {
            anchors[line - 10] = $"anchor{line}";
            ctx.Equal(0, irq.request_irq(line, Noop, IRQF_SHARED, $"anchor{line}", anchors[line - 10]), "test setup: the anchor sharer");
        }
        int workers = 3;
        for (int w = 0; w < workers; w++)
        {
            int id = w;
            ulong seed = ctx.NextULong();
            kthread_run(_ =>
            {
                var r = new System.Random((int)(seed & 0x7fffffff));
                for (int op = 0; op < 120; op++)
                {
                    int dev = id + workers * r.Next(3);
                    if (dev >= Devices)
                        dev = id;
                    uint line = LineOf(dev);
                    switch (r.Next(5))
                    {
                        case 0:
                        case 1:
                            if (!live[dev])
                            {
                                live[dev] = true;
                                int err = request_irq(line, Handler(dev), IRQF_SHARED, $"dev{dev}", devs[dev]);
                                if (err != 0)
                                {
                                    live[dev] = false;
                                    errors.Add($"request_irq({line}, dev{dev}, IRQF_SHARED) on a line of IRQF_SHARED sharers returned {err}");
                                }
                            }
                            else
                            {
                                free_irq(line, devs[dev]);
                                live[dev] = false;
                            }
                            break;
                        case 2:
                            disable_irq(line);
                            disabledSync[line - 10]++;
                            cpu_relax();
                            ctx.Machine.RaiseIrq(line);
                            cpu_relax();
                            disabledSync[line - 10]--;
                            enable_irq(line);
                            break;
                        default:
                            ctx.Machine.RaiseIrq(line);
                            cpu_relax();
                            break;
                    }
                }
                return 0;
            }, null, $"stress{id}");
        }
        int rounds = 0;
        while (rounds++ < 5000 && ctx.Machine.Tasks.Any(t => t.comm.StartsWith("stress", System.StringComparison.Ordinal)))
            msleep(10);
        ctx.Check(errors.Count == 0, "the IRQ core kept its contracts under concurrent use", "no violation", string.Join(" | ", errors.Distinct().Take(5)));
        for (int dev = 0; dev < Devices; dev++)
        {
            if (live[dev])
            {
                free_irq(LineOf(dev), devs[dev]);
                live[dev] = false;
            }
        }
        for (uint line = 10; line < 10 + Lines; line++)
            free_irq(line, anchors[line - 10]);
        for (uint line = 10; line < 10 + Lines; line++)
            ctx.Equal("[]", Show(Chain(irq, line)), $"after every device freed its action, irq {line} has none");
        ctx.Check(calls.Sum() > 0, "test setup: handlers ran");
    }

    // ---------------------------------------------------------------- property

    [ConformanceTest("__setup_irq / __free_irq / __disable_irq / __enable_irq in kernel/irq/manage.c against a shadow model, after every step", Group = "property", Seed = 11)]
    public void random_requests_frees_and_disables_match_a_shadow_model(ConformanceContext ctx)
    {
        var irq = ctx.Subject<IIrq>();
        uint[] lines = { 20, 21, 22 };
        var devs = Enumerable.Range(0, 6).Select(i => (object)$"d{i}").ToArray();
        var model = lines.ToDictionary(l => l, _ => new List<(string Name, object? Dev, ulong Flags)>());
        var depth = lines.ToDictionary(l => l, _ => 1);
        var started = lines.ToDictionary(l => l, _ => false);
        var calls = new List<string>();
        ulong[] flagChoices = { 0, IRQF_SHARED, IRQF_SHARED | IRQF_TRIGGER_RISING, IRQF_SHARED | IRQF_TRIGGER_FALLING, IRQF_SHARED | IRQF_ONESHOT, IRQF_TRIGGER_RISING };
        int names = 0;
        for (int step = 0; step < 400; step++)
        {
            uint line = lines[ctx.Next(lines.Length)];
            var chain = model[line];
            int op = ctx.Next(10);
            if (op < 4)
            {
                ulong flags = flagChoices[ctx.Next(flagChoices.Length)];
                object? dev = ctx.Next(8) == 0 ? null : devs[ctx.Next(devs.Length)];
                if (dev is not null && chain.Any(a => ReferenceEquals(a.Dev, dev)))
                    continue; // one action per dev_id per line keeps the model simple
                string name = $"n{names++}";
                int expected;
                if ((flags & IRQF_SHARED) != 0 && dev is null)
                    expected = -EINVAL;
                else if (chain.Count == 0)
                    expected = 0;
                else
                {
                    var first = chain[0].Flags;
                    expected = (first & flags & IRQF_SHARED) != 0 && (first & IRQF_TRIGGER_MASK) == (flags & IRQF_TRIGGER_MASK)
                        && ((first ^ flags) & IRQF_ONESHOT) == 0 ? 0 : -EBUSY;
                }
                string n = name;
                ctx.Step($"step {step}: request_irq({line}, {name}, 0x{flags:x}, dev {(dev ?? "NULL")}) expecting {expected}");
                ctx.Equal(expected, irq.request_irq(line, (q, d) => { calls.Add(n); return IRQ_HANDLED; }, flags, name, dev),
                    "request_irq() result by the sharing rules (IRQF_SHARED from both, same trigger, same ONESHOT, real dev_id)");
                if (expected == 0)
                {
                    if (chain.Count == 0)
                    {
                        depth[line] = 0;
                        started[line] = true;
                    }
                    chain.Add((name, dev, flags));
                }
            }
            else if (op < 7)
            {
                if (chain.Count == 0)
                    continue;
                bool stranger = ctx.Next(6) == 0;
                var victim = stranger ? ("none", (object?)new object(), 0UL) : chain[ctx.Next(chain.Count)];
                ctx.Step($"step {step}: free_irq({line}, dev of {victim.Item1})");
                int mark = LogMark(ctx);
                var r = irq.free_irq(line, victim.Item2);
                if (stranger)
                {
                    ExpectWarning(ctx, mark, $"Trying to free already-free IRQ {line}", "free_irq() of an unknown dev_id warns");
                    ctx.Equal(null, r, "free_irq() of an unknown dev_id returns NULL");
                }
                else
                {
                    ctx.Equal(victim.Item1, r, "free_irq() returns the devname of the action with that dev_id");
                    chain.RemoveAt(chain.FindIndex(a => ReferenceEquals(a.Dev, victim.Item2)));
                }
            }
            else if (op < 8)
            {
                if (chain.Count == 0)
                    continue;
                ctx.Step($"step {step}: disable_irq({line})");
                irq.disable_irq(line);
                depth[line]++;
            }
            else if (op < 9)
            {
                if (chain.Count == 0)
                    continue;
                ctx.Step($"step {step}: enable_irq({line}) at depth {depth[line]}");
                int mark = LogMark(ctx);
                irq.enable_irq(line);
                if (depth[line] == 0)
                    ExpectWarning(ctx, mark, $"Unbalanced enable for IRQ {line}", "enable_irq() at depth 0 warns");
                else
                    depth[line]--;
            }
            else
            {
                if (chain.Count == 0 || depth[line] != 0)
                    continue;
                ctx.Step($"step {step}: interrupt on {line}");
                calls.Clear();
                Fire(irq, line);
                ctx.Equal(string.Join(",", chain.Select(a => a.Name)), string.Join(",", calls), "an interrupt runs every action once, in chain order");
            }
            var desc = Desc(ctx, irq, line);
            ctx.Equal(Show(chain.Select(a => a.Name)), Show(Chain(irq, line)), "the chain holds exactly the accepted actions, in registration order");
            if (started[line])
                ctx.Equal(depth[line], desc.depth, "depth follows disable/enable (and is 0 after the first action's startup)");
        }
    }

    [ConformanceTest("note_interrupt in kernel/irq/spurious.c against a shadow model: irq_count, irqs_unhandled and depth after every interrupt", Group = "property", Seed = 13)]
    public void random_handled_and_unhandled_bursts_match_note_interrupt(ConformanceContext ctx)
    {
        var irq = ctx.Subject<IIrq>();
        var c = new Counter();
        ctx.Equal(0, irq.request_irq(L, c.Handle, 0, "bursty", null), "request");
        var desc = Desc(ctx, irq, L);
        uint count = 0, unhandled = 0;
        int depth = 0;
        ulong last = 0;
        int[] per1000 = { 0, 500, 998, 999, 1000 };
        int fired = 0;
        while (fired < 260_000 && depth == 0)
        {
            int p = per1000[ctx.Next(per1000.Length)];
            int burst = ctx.Next(1, 20_000);
            for (int i = 0; i < burst && depth == 0; i++, fired++)
            {
                bool none = ctx.Next(1000) < p;
                c.Result = none ? IRQ_NONE : IRQ_HANDLED;
                Fire(irq, L);
                if (none)
                {
                    ulong now = ctx.Machine.Jiffies;
                    long gap = (long)(now - last);
                    uint reset = 1, grown = unhandled + 1;
                    if (System.Math.Abs(gap - (long)(HZ / 10)) <= 1 && (desc.irqs_unhandled == reset || desc.irqs_unhandled == grown))
                        unhandled = desc.irqs_unhandled; // at the HZ/10 boundary the jiffy the implementation read decides
                    else
                        unhandled = (long)(last + HZ / 10 - now) < 0 ? reset : grown;
                    last = now;
                }
                if (unhandled != 0 && ++count >= 100_000)
                {
                    count = 0;
                    if (unhandled > 99_900)
                        depth++;
                    unhandled = 0;
                }
                if (desc.irq_count != count || desc.irqs_unhandled != unhandled || desc.depth != depth)
                {
                    throw ctx.Fail($"after interrupt {fired + 1} ({(none ? "IRQ_NONE" : "IRQ_HANDLED")}) note_interrupt's counters differ from Linux's",
                        $"irq_count {count}, irqs_unhandled {unhandled}, depth {depth}",
                        $"irq_count {desc.irq_count}, irqs_unhandled {desc.irqs_unhandled}, depth {desc.depth}");
                }
            }
        }
        ctx.AllowReports(WarningKinds);
    }
}
