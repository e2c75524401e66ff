using System.Collections.Generic;

namespace KernelHarness.Analyzers.Summaries;

/// <summary>
/// A few references in the order they were added, most often one or none: that one is held as it is, and a list
/// made only for a second. Adding the last one again does nothing (a walk in source order meets the same holder
/// at each of its tokens). A mutable struct, added to in place where it is kept (a field, a local).
/// </summary>
internal struct Few<T>
    where T : class
{
    private object? value; // null, a T, or a List<T> of two or more

    public void Add(T item)
    {
        switch (value)
        {
            case null:
                value = item;
                break;
            case List<T> list:
                if (!ReferenceEquals(list[list.Count - 1], item))
                    list.Add(item);
                break;
            default:
                if (!ReferenceEquals(value, item))
                    value = new List<T>(2) { (T)value, item };
                break;
        }
    }

    public readonly bool IsEmpty => value is null;

    public readonly bool Contains(T item)
    {
        foreach (var x in this)
            if (ReferenceEquals(x, item))
                return true;
        return false;
    }

    /// <summary>The items in a list of their own.</summary>
    public readonly List<T> ToList()
    {
        var all = new List<T>();
        foreach (var x in this)
            all.Add(x);
        return all;
    }

    public readonly Enumerator GetEnumerator() => new(value);

    public struct Enumerator
    {
        private readonly object? value;
        private int index;

        public Enumerator(object? value)
        {
            this.value = value;
            index = -1;
        }

        public readonly T Current => value is List<T> list ? list[index] : (T)value!;

        public bool MoveNext() => value is List<T> list ? ++index < list.Count : value is not null && ++index == 0;
    }
}
