using KernelHarness.Runtime;
using static KernelHarness.Kernel;

namespace KernelHarness.Conformance.Driver;

/// <summary>
/// The "driver" assignment's tests: the student's driver runs on the reference kernel, which checks
/// every rule of kernel-api.md §5 as it goes (sleeping in atomic context, GFP flags, lockdep's lock
/// states, leaks); any report fails the test with the report, which names the student's line.
/// </summary>
[ConformanceSuite("driver")]
public sealed class DriverSuite
{
    private const uint Line = 11;

    private static (IDriverAssignment Driver, SimNetDevice Dev) Probe(ConformanceContext ctx)
    {
        var drv = ctx.Subject<IDriverAssignment>();
        var dev = new SimNetDevice(Line);
        ctx.Step("probe");
        ctx.Equal(0, drv.probe(dev), "probe() returns 0 on a working device");
        return (drv, dev);
    }

    [ConformanceTest("request_irq/free_irq in kernel/irq/manage.c: probe requests the device's line as a shared handler with a real dev_id; remove frees it")]
    public void probe_requests_a_shared_irq_and_remove_frees_it(ConformanceContext ctx)
    {
        var (drv, _) = Probe(ctx);
        var desc = irq_to_desc(Line)!;
        ctx.Check(desc.action is not null, "after probe() the device's line has a handler");
        ctx.Check((desc.action!.flags & IRQF_SHARED) != 0, "the handler is requested with IRQF_SHARED (the line may be shared)");
        ctx.Check(desc.action.dev_id is not null, "a shared handler passes a real dev_id");
        ctx.Step("remove");
        drv.remove();
        ctx.Check(irq_to_desc(Line)!.action is null, "remove() frees the IRQ (free_irq with the same dev_id)");
    }

    [ConformanceTest("Documentation/core-api/genericirq.rst, kernel/softirq.c: the handler acknowledges the device and defers the packets to a tasklet")]
    public void every_received_packet_is_counted_by_the_tasklet(ConformanceContext ctx)
    {
        var (drv, dev) = Probe(ctx);
        int total = 0;
        for (int burst = 1; burst <= 20; burst++)
        {
            dev.receive(burst);
            total += burst;
            cpu_relax();
            if (burst % 5 == 0)
                msleep(10);
        }
        msleep(50);
        ctx.Equal((long)total, drv.packets, "every packet the device received was counted by the tasklet");
        ctx.Equal(0, dev.irq_status(), "the handler acknowledged every interrupt (ack())");
        drv.remove();
    }

    [ConformanceTest("__handle_irq_event_percpu in kernel/irq/handle.c: on a shared line the driver's handler returns IRQ_NONE when its device has nothing pending")]
    public void the_handler_returns_irq_none_when_the_device_is_idle(ConformanceContext ctx)
    {
        var (drv, _) = Probe(ctx);
        var desc = irq_to_desc(Line)!;
        var action = desc.action!;
        for (int i = 0; i < 3; i++)
        {
            local_irq_disable();
            var r = action.handler!((int)Line, action.dev_id);
            local_irq_enable();
            ctx.Equal(IRQ_NONE, r, "an interrupt the device did not raise is answered with IRQ_NONE (a shared line's other device raised it)");
        }
        drv.remove();
    }

    [ConformanceTest("kernel/time/timer.c and kernel/workqueue.c: with no traffic the watchdog timer fires and schedules the reset work, which runs in process context")]
    public void a_quiet_device_gets_reset_by_the_watchdog(ConformanceContext ctx)
    {
        var (drv, dev) = Probe(ctx);
        msleep(3000);
        ctx.Check(drv.watchdog_runs >= 2, "the watchdog timer keeps firing (re-armed with mod_timer)", ">= 2 runs", drv.watchdog_runs.ToString());
        ctx.Check(drv.resets >= 1, "after a quiet period the watchdog schedules the reset work", ">= 1 reset", drv.resets.ToString());
        ctx.Equal(drv.resets, dev.hw_resets, "each run of the work item resets the hardware once");
        drv.remove();
    }

    [ConformanceTest("del_timer_sync/cancel_work_sync/tasklet_kill/free_irq: after remove() no callback of the driver runs again")]
    public void nothing_runs_after_remove(ConformanceContext ctx)
    {
        var (drv, dev) = Probe(ctx);
        dev.receive(3);
        msleep(1200);
        drv.remove();
        long packets = drv.packets;
        int timer = drv.watchdog_runs, resets = drv.resets;
        dev.receive(5);
        msleep(3000);
        ctx.Equal(timer, drv.watchdog_runs, "the watchdog timer must not fire after remove() (del_timer_sync)");
        ctx.Equal(packets, drv.packets, "no interrupt reaches the driver after remove() (free_irq)");
        ctx.Equal(resets, drv.resets, "no reset work runs after remove() (cancel_work_sync)");
    }

    private const string NoLeakRule =
        "kmemleak (mm/kmemleak.c): after remove() every buffer the driver allocated is freed: no object is left that nothing references (\"unreferenced object\")";

    [ConformanceTest("kmemleak (mm/kmemleak.c, CONFIG_DEBUG_KMEMLEAK): the driver frees every buffer it allocates; after traffic and remove() no object it allocated is left unreferenced")]
    public void the_driver_leaks_no_memory(ConformanceContext ctx)
    {
        ctx.CheckLeaksAtEnd(NoLeakRule); // no roots: after remove() the driver keeps nothing
        var (drv, dev) = Probe(ctx);
        for (int burst = 1; burst <= 10; burst++)
        {
            dev.receive(burst);
            msleep(5);
        }
        msleep(50);
        ctx.Check(drv.packets > 0, "the tasklet ran (packets were counted)");
        drv.remove();
    }

    [ConformanceTest("lockdep and the debug kernel under load: traffic from several CPUs while the watchdog runs; nothing leaks (kmemleak)", Group = "concurrency", Seed = 5)]
    public void traffic_from_several_cpus(ConformanceContext ctx)
    {
        ctx.CheckLeaksAtEnd(NoLeakRule);
        var (drv, dev) = Probe(ctx);
        int done = 0, sent = 0;
        for (int w = 0; w < 3; w++)
        {
            kthread_run(_ =>
            {
                for (int i = 0; i < 60; i++)
                {
                    dev.receive(1);
                    sent++;
                    cpu_relax();
                    if (i % 10 == 0)
                        msleep(5);
                }
                done++;
                return 0;
            }, null, $"traffic{w}");
        }
        int guard = 0;
        while (done < 3 && guard++ < 1000)
            msleep(10);
        msleep(100);
        ctx.Equal((long)sent, drv.packets, "every packet sent from any CPU was counted once");
        drv.remove();
    }
}
