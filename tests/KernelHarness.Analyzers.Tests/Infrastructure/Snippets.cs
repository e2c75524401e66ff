namespace KernelHarness.Analyzers.Tests.Infrastructure;

/// <summary>Wraps a class body in a driver class with the fields kernel snippets use.</summary>
public static class Snippets
{
    public static string Driver(string members) => @"
public sealed class Device
{
    public spinlock_t list_lock = new();
    public spinlock_t hw_lock = new();
    public rwlock_t rw = new();
    public mutex mtx = new();
    public semaphore sem = new(1);
    public int count;
    public bool use_lock;
    public kptr buf;
}

public sealed class Driver
{
    private readonly spinlock_t rx_lock = new();
    private readonly spinlock_t tx_lock = new();
    private readonly mutex mtx = new();
    private readonly rwlock_t rw = new();
    private readonly semaphore sem = new(1);
    private readonly Device dev = new();
    private readonly tasklet_struct tasklet = new();
    private readonly timer_list timer = new();
    private readonly work_struct work = new();
    private ulong saved_flags;
    private int count;
    private bool busy;
    private kptr buf;
    private uint irq;
" + members + @"
}
";
}
